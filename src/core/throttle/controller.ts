import { formatMs } from '../format-ms.js';
import { quantile } from '../quantile.js';
import { ForegroundBudget, type ForegroundBudgetOptions } from './foreground-budget.js';

/**
 * The adaptive controller: sizes batches so that each takes about `targetBatchMs`, and paces the
 * lanes on the foreground's latency. Pure: no clock, no I/O; the throttle feeds it observations
 * and applies what it decides.
 *
 * It steers on time per item, not on batch time: the next size is `target / (ms per item)`. When
 * batch time stops scaling with size (a fixed cost per batch dominates), time per item falls as
 * batches grow, so the size keeps growing instead of collapsing. It adapts from the first batch
 * (no warm-up), grows at most `maxGrowth` per step, halves at once after a batch slower than
 * `slowFactor` × the target or when a (non-latency) signal says slow, and waits on stop (the
 * throttle's gate).
 *
 * With a probe, every reading moves the share of full speed the backfill may use (see
 * foreground-budget.ts). The share is spent as lane-equivalents, `share × maxConcurrency`: whole
 * lanes first, then a pause after each batch of the last lanes, so that 1.5 lane-equivalents are
 * two lanes each busy 75 % of the time. Lanes go first because on a small machine a lane is a
 * database backend competing with the foreground for a core; the pause spreads the rest.
 */
export interface ControllerOptions extends ForegroundBudgetOptions {
  /** The batch duration aimed at. Default 1000 ms. */
  targetBatchMs?: number;
  /**
   * The shortest batch the foreground's budget shrinks batches to (ms) before it only lengthens the
   * pause. Default 5 ms (or `targetBatchMs` if shorter).
   */
  minBatchMs?: number;
  minBatchSize?: number;
  maxBatchSize?: number;
  /** Largest growth of the batch size per step, 1.2–1.5. Default 1.5. */
  maxGrowth?: number;
  /** A batch slower than this many targets halves the size at once. Default 5. */
  slowFactor?: number;
  minConcurrency?: number;
  maxConcurrency?: number;
  /** Probe readings the p95 shown in decisions is taken over. Default 10. */
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
  private readonly minBatchMs: number;
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
  private readonly budget: ForegroundBudget;
  /** Whether a probe has been read yet (until then: the configured lanes, no pause). */
  private steered = false;
  /** Each lane's share of the time it may work (the rest is a pause after each batch). */
  private duty = 1;

  constructor(initial: { batchSize: number; concurrency: number }, options: ControllerOptions = {}) {
    this.targetMs = options.targetBatchMs ?? 1000;
    this.minBatchMs = Math.min(options.minBatchMs ?? 5, this.targetMs);
    this.minBatch = options.minBatchSize ?? 1;
    this.maxBatch = options.maxBatchSize ?? 100_000;
    this.maxGrowth = options.maxGrowth ?? 1.5;
    this.slowFactor = options.slowFactor ?? 5;
    this.minConcurrency = options.minConcurrency ?? 1;
    this.maxConcurrency = options.maxConcurrency ?? Math.max(initial.concurrency, 1);
    this.window = options.probeWindow ?? 10;
    if (!(this.targetMs > 0)) throw new RangeError(`adaptive.targetBatchMs must be a positive number of ms, got ${this.targetMs}`);
    if (!(this.minBatchMs > 0)) throw new RangeError(`adaptive.minBatchMs must be a positive number of ms, got ${this.minBatchMs}`);
    if (!(this.maxGrowth >= 1.2 && this.maxGrowth <= 1.5))
      throw new RangeError(`adaptive.maxGrowth must be between 1.2 and 1.5, got ${this.maxGrowth}`);
    if (!(this.minBatch >= 1 && this.maxBatch >= this.minBatch))
      throw new RangeError(`adaptive batch bounds must satisfy 1 ≤ minBatchSize ≤ maxBatchSize, got ${this.minBatch}..${this.maxBatch}`);
    if (!(this.minConcurrency >= 1 && this.maxConcurrency >= this.minConcurrency))
      throw new RangeError(`adaptive concurrency bounds must satisfy 1 ≤ min ≤ max, got ${this.minConcurrency}..${this.maxConcurrency}`);
    this.batch = clamp(initial.batchSize, this.minBatch, this.maxBatch);
    this.lanes = clamp(initial.concurrency, this.minConcurrency, this.maxConcurrency);
    this.budget = new ForegroundBudget(options);
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
      return this.decision(
        before,
        `batch of ${size} took ${Math.round(durationMs)} ms > ${this.slowFactor}× the ${this.targetMs} ms target: halved`,
      );
    }
    this.msPerItem = this.msPerItem === undefined ? perItem : ALPHA * perItem + (1 - ALPHA) * this.msPerItem;
    return this.resize();
  }

  /**
   * The batch duration aimed at now: `targetBatchMs` at full duty; below it, the duty's part of it
   * (no shorter than `minBatchMs`). A lane that may work a tenth of the time then runs 10 ms
   * batches 90 ms apart rather than 100 ms batches 900 ms apart: the foreground's p95 is hurt by
   * how long each burst of writes lasts (its commits queue behind the batch's WAL), so the same
   * share spread thinner keeps more of the foreground's requests within budget.
   */
  get aimedBatchMs(): number {
    return this.duty >= 1 ? this.targetMs : Math.max(this.minBatchMs, this.targetMs * this.duty);
  }

  /** Sizes the batch to the duration aimed at from the time per item learnt (grows at most `maxGrowth`). */
  private resize(): ControllerDecision | undefined {
    if (this.msPerItem === undefined) return undefined;
    const before = this.batch;
    const aimed = this.aimedBatchMs;
    const ideal = aimed / this.msPerItem;
    const ceiling = Math.max(before + 1, Math.floor(before * this.maxGrowth));
    this.batch = clamp(Math.round(Math.min(ideal, ceiling)), this.minBatch, this.maxBatch);
    const capped = ideal > ceiling && this.batch === ceiling;
    return this.decision(
      before,
      `${this.msPerItem.toFixed(3)} ms per item, target ${formatMs(aimed)} ms per batch${capped ? ` (grew ×${this.maxGrowth}, the most per step)` : ''}`,
    );
  }

  /** A signal said slow: halve the batch size, once per observed batch. */
  observeSlow(reason: string): ControllerDecision | undefined {
    if (this.halvedSinceBatch) return undefined;
    this.halvedSinceBatch = true;
    const before = this.batch;
    this.batch = clamp(Math.floor(before / 2), this.minBatch, this.maxBatch);
    return this.decision(before, `${reason}: halved`);
  }

  /** The share of full speed the foreground's latency allows (1 until a probe is read). */
  get share(): number {
    return this.steered ? this.budget.share : 1;
  }

  /**
   * The pause after a batch of `batchMs` that keeps a lane busy only its duty share of the time:
   * `batchMs × (1 / duty − 1)`, none at full duty.
   */
  delayAfter(batchMs: number): number {
    if (this.duty >= 1 || batchMs <= 0) return 0;
    return batchMs * (1 / this.duty - 1);
  }

  /**
   * A foreground latency reading against its budget: moves the share of full speed (see
   * foreground-budget.ts) and spends it as lanes and a pause. Returns a decision when the lanes
   * changed or the share moved (the throttle records only those that matter).
   */
  observeProbe(latencyMs: number, budgetMs: number): ControllerDecision | undefined {
    this.latencies.push(latencyMs);
    if (this.latencies.length > this.window) this.latencies.shift();
    const budget = this.budget;
    const shareBefore = this.share;
    const steeredBefore = this.steered;
    this.steered = true;
    const share = budget.observe(latencyMs, budgetMs);
    const before = this.lanes;
    this.spend(share, steeredBefore);
    // A new duty aims at a new batch duration: resize now rather than after one more batch of the old size.
    this.resize();
    if (this.lanes === before && share === shareBefore) return undefined;
    const p95 = quantile(
      [...this.latencies].sort((a, b) => a - b),
      0.95,
    );
    const lanes = this.lanes === before ? `lanes ${this.lanes}` : `lanes ${before} → ${this.lanes}`;
    return {
      batchSize: this.batch,
      concurrency: this.lanes,
      reason: `foreground p95 ${formatMs(p95)} ms ${p95 > budgetMs ? '>' : '≤'} budget ${formatMs(budgetMs)} ms over the last ${this.latencies.length}: share ${shareBefore.toFixed(2)} → ${share.toFixed(2)}, ${lanes}, each busy ${Math.round(this.duty * 100)} %`,
    };
  }

  /**
   * Spends a share as lane-equivalents: whole lanes, then the duty of each. Lanes rise only once
   * the share asks for a quarter lane more than there are (and fall as soon as it asks for a whole
   * lane fewer), so that a share hovering at a lane boundary does not start and retire a lane at
   * every reading; the duty takes up the difference.
   */
  private spend(share: number, fromLanes = true): void {
    const wanted = share * this.maxConcurrency;
    let lanes = this.lanes;
    // The first reading: lanes from the share alone, not down from every configured lane.
    if (!fromLanes || wanted > lanes + 0.25) lanes = Math.ceil(wanted - 0.25);
    else if (wanted <= lanes - 1) lanes = Math.ceil(wanted);
    this.lanes = clamp(lanes, this.minConcurrency, this.maxConcurrency);
    this.duty = Math.min(1, wanted / this.lanes);
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
      if (this.steered) this.spend(this.budget.share);
    }
  }

  private decision(before: number, why: string): ControllerDecision | undefined {
    if (this.batch === before) return undefined;
    return {
      batchSize: this.batch,
      concurrency: this.lanes,
      reason: `batch ${before.toLocaleString('en-US')} → ${this.batch.toLocaleString('en-US')}: ${why}`,
    };
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(value)));
}
