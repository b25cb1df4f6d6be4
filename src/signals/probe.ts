import type { HealthSignal, SignalReading } from '../core/throttle/signal.js';
import { formatMs } from '../core/format-ms.js';
import { quantile } from '../core/quantile.js';

export interface ProbeOptions {
  name?: string;
  /** What the foreground does (a query, a request): its latency is what the backfill must not hurt. */
  run: () => Promise<unknown>;
  /** Slow down while the p95 of the last readings exceeds this. */
  budgetMs: number;
  /** Stop while the p95 exceeds this (default: never). */
  stopMs?: number;
  /** Readings the percentile is taken over. Default 20. */
  window?: number;
  onError?: 'continue' | 'stop';
  /** Clock for the measurement (tests). */
  now?: () => number;
}

/**
 * A user probe: runs the foreground's own operation at each reading and watches its p95 latency
 * over the last `window` readings. Over budget, the backfill slows down; over `stopMs`, it waits.
 */
export function probe(options: ProbeOptions): HealthSignal & { p95(): number | undefined } {
  if (!(options.budgetMs > 0)) throw new TypeError('probe: budgetMs must be a positive number of milliseconds');
  const window = options.window ?? 20;
  const now = options.now ?? (() => performance.now());
  const latencies: number[] = [];
  const p95 = () => {
    if (latencies.length === 0) return undefined;
    return quantile(
      [...latencies].sort((a, b) => a - b),
      0.95,
    );
  };
  return {
    name: options.name ?? 'probe',
    onError: options.onError ?? 'continue',
    p95,
    async read(): Promise<SignalReading> {
      const started = now();
      await options.run();
      latencies.push(now() - started);
      if (latencies.length > window) latencies.shift();
      const latencyMs = latencies[latencies.length - 1]!;
      const value = p95()!;
      const measured = { latencyMs, budgetMs: options.budgetMs };
      const shown = `p95 ${formatMs(value)} ms over ${latencies.length} reading${latencies.length === 1 ? '' : 's'}`;
      if (options.stopMs !== undefined && value > options.stopMs)
        return { level: 'stop', reason: `${shown} > ${formatMs(options.stopMs)} ms`, ...measured };
      if (value > options.budgetMs) return { level: 'slow', reason: `${shown} > budget ${formatMs(options.budgetMs)} ms`, ...measured };
      return { level: 'ok', reason: `${shown} ≤ budget ${formatMs(options.budgetMs)} ms`, ...measured };
    },
  };
}
