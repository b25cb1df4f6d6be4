/**
 * The foreground workload of the foreground-protection benchmarks: `rate` single-row UPDATEs per
 * second over 8 connections, each request's latency measured from its scheduled start (not from
 * when a connection was free), so a stalled database cannot hide its queue (no coordinated
 * omission).
 *
 * It runs in a worker thread by default: a real foreground is another service with its own event
 * loop, and measuring it on the backfill's event loop would charge the foreground for the
 * backfill's JavaScript (parsing rows, building parameters), which no separate service pays.
 * The CPU is still shared, as it is on a small machine.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pg from 'pg';

export const FOREGROUND_CONNECTIONS = 8;

/**
 * A foreground that is not steady: every `everyS` seconds, for `forS` of them, `rate` requests a
 * second instead of the base rate (a busy hour, compressed). From the phase's start: a surge first.
 */
export interface Surge {
  rate: number;
  forS: number;
  everyS: number;
}

/** `--surge RATE,FOR_S,EVERY_S` (e.g. `1500,5,15`), validated. */
export function surgeArg(value: string | undefined): Surge | undefined {
  if (value === undefined || value === '') return undefined;
  const [rate, forS, everyS] = value.split(',').map(Number);
  if (!(rate! > 0 && forS! > 0 && everyS! > forS!))
    throw new Error(
      `--surge must be RATE,FOR_S,EVERY_S with every rate and duration positive and FOR_S < EVERY_S (e.g. 1500,5,15), got "${value}"`,
    );
  return { rate: rate!, forS: forS!, everyS: everyS! };
}

/** Each request's scheduled start (ms from the phase's start): evenly spaced at the rate in force. */
function schedule(seconds: number, rate: number, surge: Surge | undefined): number[] {
  const times: number[] = [];
  for (let t = 0; t < seconds * 1000; ) {
    times.push(t);
    const surging = surge !== undefined && t % (surge.everyS * 1000) < surge.forS * 1000;
    t += 1000 / (surging ? surge.rate : rate);
  }
  return times;
}

export interface ForegroundOptions {
  url: string;
  seconds: number;
  rate: number;
  /** A surge of requests at intervals (default: the same rate throughout). */
  surge?: Surge;
  /** Run on the caller's event loop instead of a worker thread. */
  inProcess?: boolean;
}

export interface ForegroundResult {
  /** Every request's latency in ms, sorted. */
  latencies: number[];
  /** The same latencies in the order the requests completed (about their scheduled order): what the first seconds cost. */
  inOrder: number[];
  p50: number;
  p95: number;
  p99: number;
  /** The foreground's own event-loop delay p99 (ms): how late its timers and callbacks ran. */
  loopLagP99: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function load(options: Omit<ForegroundOptions, 'inProcess'>): Promise<ForegroundResult> {
  const clients = await Promise.all(
    Array.from({ length: FOREGROUND_CONNECTIONS }, async () => {
      const c = new pg.Client({ connectionString: options.url, application_name: 'bench:foreground' });
      await c.connect();
      return c;
    }),
  );
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const latencies: number[] = [];
  const times = schedule(options.seconds, options.rate, options.surge);
  const start = performance.now();
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      for (;;) {
        const i = next++;
        if (i >= times.length) return;
        const scheduled = start + times[i]!;
        const wait = scheduled - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await client.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [1 + Math.floor(Math.random() * 10_000)]);
        latencies.push(performance.now() - scheduled);
      }
    }),
  );
  lag.disable();
  await Promise.all(clients.map((c) => c.end()));
  const inOrder = [...latencies];
  latencies.sort((a, b) => a - b);
  return {
    latencies,
    inOrder,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    loopLagP99: lag.percentile(99) / 1e6,
  };
}

/** Runs the foreground for `seconds` and returns its latencies. */
export function runForeground(options: ForegroundOptions): Promise<ForegroundResult> {
  if (options.inProcess) return load(options);
  return new Promise((resolve, reject) => {
    // Node 20 does not carry `--import tsx` into workers: register tsx there, then load this file.
    const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(bootstrap, {
      eval: true,
      workerData: { foreground: { url: options.url, seconds: options.seconds, rate: options.rate, surge: options.surge } },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the foreground worker exited with code ${code}`));
    });
  });
}

if (!isMainThread && (workerData as { foreground?: unknown } | null)?.foreground) {
  const result = await load((workerData as { foreground: Omit<ForegroundOptions, 'inProcess'> }).foreground);
  parentPort!.postMessage(result);
}
