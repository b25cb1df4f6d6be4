import type { SignalReading } from './signal.js';

export interface MemoryGuardOptions {
  /** Limit in MB. */
  limitMb: number;
  /** What is compared with the limit: resident set size (default; what the OOM killer sees) or the V8 heap in use. */
  measure?: 'rss' | 'heap';
  /** Reads memory in bytes (tests inject it); default `process.memoryUsage()`. */
  read?: () => { rss: number; heapUsed: number };
}

/**
 * Seed 002's memory guard: above the limit the backfill waits (the lanes stop taking batches, so
 * the items they would have held are never loaded) and asks for a garbage collection when the
 * process was started with `--expose-gc`; it goes on once usage is back under 90 % of the limit,
 * so that it does not flap at the boundary.
 */
export class MemoryGuard {
  private readonly measure: 'rss' | 'heap';
  private readonly readMemory: () => { rss: number; heapUsed: number };
  private over = false;

  constructor(private readonly options: MemoryGuardOptions) {
    this.measure = options.measure ?? 'rss';
    this.readMemory = options.read ?? (() => process.memoryUsage());
  }

  get limitMb(): number {
    return this.options.limitMb;
  }

  usedMb(): number {
    const memory = this.readMemory();
    return (this.measure === 'rss' ? memory.rss : memory.heapUsed) / 1_048_576;
  }

  check(): SignalReading {
    const used = this.usedMb();
    const limit = this.options.limitMb;
    const resumeBelow = limit * 0.9;
    this.over = this.over ? used >= resumeBelow : used > limit;
    const what = this.measure === 'rss' ? 'memory (RSS)' : 'heap';
    if (!this.over) return { level: 'ok', reason: `${what} ${Math.round(used)} MB ≤ ${limit} MB` };
    return {
      level: 'stop',
      reason: `${what} ${Math.round(used)} MB ${used > limit ? '>' : '≥'} ${used > limit ? limit : Math.round(resumeBelow)} MB${used > limit ? ' (limit)' : ' (90 % of the limit, to resume)'}`,
    };
  }

  /** Collects garbage when the runtime allows it (`node --expose-gc`); says whether it could. */
  collect(): boolean {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (typeof gc !== 'function') return false;
    gc();
    return true;
  }
}
