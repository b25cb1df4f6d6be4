/**
 * The adaptive controller: sizes batches so that each takes about `targetBatchMs`, and sets the
 * number of lanes from the foreground's latency (AIMD). Pure: no clock, no I/O; the throttle
 * feeds it observations and applies what it decides.
 *
 * It steers on time per item, not on batch time: the next size is `target / (ms per item)`. When
 * batch time stops scaling with size (a fixed cost per batch dominates), time per item falls as
 * batches grow, so the size keeps growing instead of collapsing. It adapts from the first batch
 * (no warm-up), grows at most `maxGrowth` per step, halves at once after a batch slower than
 * `slowFactor` × the target or when a signal says slow, and waits on stop (the throttle's gate).
 */
export interface ControllerOptions {
  /** The batch duration aimed at. Default 1000 ms. */
  targetBatchMs?: number;
  minBatchSize?: number;
  maxBatchSize?: number;
  /** Largest growth of the batch size per step, 1.2–1.5. Default 1.5. */
  maxGrowth?: number;
  /** A batch slower than this many targets halves the size at once. Default 5. */
  slowFactor?: number;
  minConcurrency?: number;
  maxConcurrency?: number;
  /** Probe readings per AIMD step. Default 10. */
  probeWindow?: number;
}

export interface ControllerDecision {
  batchSize: number;
  concurrency: number;
  reason: string;
}

/** Weight of the newest observation in the time-per-item average: quick to follow, not jumpy. */
const ALPHA = 0.5;

export class AdaptiveController {
  private readonly targetMs: number;
  private readonly minBatch: number;
  private readonly maxBatch: number;
  private readonly maxGrowth: number;
  private readonly slowFactor: number;
  private readonly minConcurrency: number;
  private maxConcurrency: number;
  private readonly window: number;
  private batch: number;
  private lanes: number;
  private msPerItem: number | undefined;
  /** A `slow` signal halves once per observed batch, however many lanes read it. */
  private halvedSinceBatch = false;
  private readonly latencies: number[] = [];
  private readingsSinceStep = 0;

  constructor(initial: { batchSize: number; concurrency: number }, options: ControllerOptions = {}) {
    this.targetMs = options.targetBatchMs ?? 1000;
    this.minBatch = options.minBatchSize ?? 1;
    this.maxBatch = options.maxBatchSize ?? 100_000;
    this.maxGrowth = options.maxGrowth ?? 1.5;
    this.slowFactor = options.slowFactor ?? 5;
    this.minConcurrency = options.minConcurrency ?? 1;
    this.maxConcurrency = options.maxConcurrency ?? Math.max(initial.concurrency, 1);
    this.window = options.probeWindow ?? 10;
    if (!(this.targetMs > 0)) throw new RangeError(`adaptive.targetBatchMs must be a positive number of ms, got ${this.targetMs}`);
    if (!(this.maxGrowth >= 1.2 && this.maxGrowth <= 1.5)) throw new RangeError(`adaptive.maxGrowth must be between 1.2 and 1.5, got ${this.maxGrowth}`);
    if (!(this.minBatch >= 1 && this.maxBatch >= this.minBatch)) throw new RangeError(`adaptive batch bounds must satisfy 1 ≤ minBatchSize ≤ maxBatchSize, got ${this.minBatch}..${this.maxBatch}`);
    if (!(this.minConcurrency >= 1 && this.maxConcurrency >= this.minConcurrency)) throw new RangeError(`adaptive concurrency bounds must satisfy 1 ≤ min ≤ max, got ${this.minConcurrency}..${this.maxConcurrency}`);
    this.batch = clamp(initial.batchSize, this.minBatch, this.maxBatch);
    this.lanes = clamp(initial.concurrency, this.minConcurrency, this.maxConcurrency);
  }

  get batchSize(): number {
    return this.batch;
  }

  get concurrency(): number {
    return this.lanes;
  }

  /** A batch of `size` items took `durationMs`. Returns the decision when the size changed. */
  observeBatch(size: number, durationMs: number): ControllerDecision | undefined {
    this.halvedSinceBatch = false;
    if (size <= 0) return undefined;
    const perItem = Math.max(durationMs, 0.001) / size;
    const before = this.batch;
    if (durationMs > this.slowFactor * this.targetMs) {
      // One very slow batch: halve now, and forget the old average, which said things were fast.
      this.msPerItem = perItem;
      this.batch = clamp(Math.floor(before / 2), this.minBatch, this.maxBatch);
      return this.decision(before, `batch of ${size} took ${Math.round(durationMs)} ms > ${this.slowFactor}× the ${this.targetMs} ms target: halved`);
    }
    this.msPerItem = this.msPerItem === undefined ? perItem : ALPHA * perItem + (1 - ALPHA) * this.msPerItem;
    const ideal = this.targetMs / this.msPerItem;
    const ceiling = Math.max(before + 1, Math.floor(before * this.maxGrowth));
    this.batch = clamp(Math.round(Math.min(ideal, ceiling)), this.minBatch, this.maxBatch);
    const capped = ideal > ceiling && this.batch === ceiling;
    return this.decision(before, `${this.msPerItem.toFixed(3)} ms per item, target ${this.targetMs} ms per batch${capped ? ` (grew ×${this.maxGrowth}, the most per step)` : ''}`);
  }

  /** A signal said slow: halve the batch size, once per observed batch. */
  observeSlow(reason: string): ControllerDecision | undefined {
    if (this.halvedSinceBatch) return undefined;
    this.halvedSinceBatch = true;
    const before = this.batch;
    this.batch = clamp(Math.floor(before / 2), this.minBatch, this.maxBatch);
    return this.decision(before, `${reason}: halved`);
  }

  /**
   * A foreground latency reading against its budget. Every `probeWindow` readings: p95 over
   * budget halves the lanes (multiplicative decrease), within budget adds one (additive increase).
   */
  observeProbe(latencyMs: number, budgetMs: number): ControllerDecision | undefined {
    this.latencies.push(latencyMs);
    if (this.latencies.length > this.window) this.latencies.shift();
    if (++this.readingsSinceStep < this.window) return undefined;
    this.readingsSinceStep = 0;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!;
    const before = this.lanes;
    this.lanes = p95 > budgetMs ? Math.max(this.minConcurrency, Math.floor(before / 2)) : Math.min(this.maxConcurrency, before + 1);
    if (this.lanes === before) return undefined;
    return { batchSize: this.batch, concurrency: this.lanes, reason: `foreground p95 ${Math.round(p95)} ms ${p95 > budgetMs ? '>' : '≤'} budget ${budgetMs} ms: lanes ${before} → ${this.lanes}` };
  }

  /** An operator's retune: new starting points (and a new ceiling for lanes). */
  retune(values: { batchSize?: number; concurrency?: number }): void {
    if (values.batchSize !== undefined) {
      this.batch = clamp(values.batchSize, this.minBatch, this.maxBatch);
      this.msPerItem = undefined;
    }
    if (values.concurrency !== undefined) {
      this.maxConcurrency = Math.max(this.minConcurrency, values.concurrency);
      this.lanes = clamp(values.concurrency, this.minConcurrency, this.maxConcurrency);
    }
  }

  private decision(before: number, why: string): ControllerDecision | undefined {
    if (this.batch === before) return undefined;
    return { batchSize: this.batch, concurrency: this.lanes, reason: `batch ${before.toLocaleString('en-US')} → ${this.batch.toLocaleString('en-US')}: ${why}` };
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(value)));
}
