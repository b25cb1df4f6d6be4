/**
 * The foreground latency loop: a share of full speed (0 < share ≤ 1) steered so that the
 * foreground's latency, as a probe reads it, stays within its budget at the budget's percentile.
 * Pure: no clock, no I/O; it learns from one reading at a time.
 *
 * It tracks a quantile: every reading over budget multiplies the share by `budgetDecrease` (quick to
 * react), every reading within budget multiplies it by a small `increase`, chosen so that the two
 * balance exactly when the fraction of readings over budget is 1 − percentile/100 (5 % for a p95
 * budget). Below that fraction the share climbs, above it the share falls, so the loop settles
 * where the foreground's p95 is the budget, without a window to fill first (it steers from the
 * first reading) and without the bias of comparing the largest of a few readings to a p95.
 * The share never falls under `minShare`: latency alone slows the backfill, it never stops it
 * (a probe's `stopMs` does that), and it can always climb back.
 */
export interface ForegroundBudgetOptions {
  /** The percentile the probe's budget is for. Default 95. */
  budgetPercentile?: number;
  /** Factor on the share after a reading over budget, 0.3–0.9. Default 0.7. */
  budgetDecrease?: number;
  /** The least share of full speed it slows down to. Default 0.02. */
  minShare?: number;
  /** The share it starts at. Default 0.5. */
  startShare?: number;
}

export class ForegroundBudget {
  readonly decrease: number;
  readonly increase: number;
  readonly minShare: number;
  readonly percentile: number;
  private value: number;
  private readings = 0;
  private over = 0;

  constructor(options: ForegroundBudgetOptions = {}) {
    this.percentile = options.budgetPercentile ?? 95;
    this.decrease = options.budgetDecrease ?? 0.7;
    this.minShare = options.minShare ?? 0.02;
    const start = options.startShare ?? 0.5;
    if (!(this.percentile >= 50 && this.percentile < 100))
      throw new RangeError(`adaptive.budgetPercentile must be at least 50 and under 100, got ${this.percentile}`);
    if (!(this.decrease >= 0.3 && this.decrease <= 0.9))
      throw new RangeError(`adaptive.budgetDecrease must be between 0.3 and 0.9, got ${this.decrease}`);
    if (!(this.minShare > 0 && this.minShare <= 1))
      throw new RangeError(`adaptive.minShare must be above 0 and at most 1, got ${this.minShare}`);
    if (!(start >= this.minShare && start <= 1))
      throw new RangeError(`adaptive.startShare must be between minShare (${this.minShare}) and 1, got ${start}`);
    // Balance: q · ln(1/decrease) = (1 − q) · ln(increase), q the fraction allowed over budget.
    const q = 1 - this.percentile / 100;
    this.increase = Math.exp((q * Math.log(1 / this.decrease)) / (1 - q));
    this.value = start;
  }

  /** The share of full speed the backfill may use now. */
  get share(): number {
    return this.value;
  }

  /** Readings seen and how many were over budget (for the reasons decisions give). */
  get counts(): { readings: number; over: number } {
    return { readings: this.readings, over: this.over };
  }

  /** One probe reading against its budget; returns the new share. */
  observe(latencyMs: number, budgetMs: number): number {
    this.readings += 1;
    const overBudget = latencyMs > budgetMs;
    if (overBudget) this.over += 1;
    const next = this.value * (overBudget ? this.decrease : this.increase);
    this.value = Math.min(1, Math.max(this.minShare, next));
    return this.value;
  }
}
