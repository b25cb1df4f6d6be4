import { addCounts, type Counts, subtractCounts, zeroCounts } from './counts.js';

/**
 * Keeps the counts of a run in memory (the store holds the truth; this is for progress events) and
 * derives a rate over a sliding window and an ETA from it.
 */
export class ProgressTracker {
  private base: Counts;
  private session: Counts = zeroCounts();
  private baseBatches: number;
  private sessionBatches = 0;
  private readonly samples: Array<{ at: number; received: number }> = [];

  constructor(
    base: Counts,
    baseBatches: number,
    /** Null until known: a source that cannot count, or a count still running beside the run. */
    public plannedItems: number | null,
    private readonly startedAt: number,
    private readonly windowMs = 10_000,
  ) {
    this.base = base;
    this.baseBatches = baseBatches;
    this.samples.push({ at: startedAt, received: 0 });
  }

  add(delta: Counts, now: number): void {
    this.session = addCounts(this.session, delta);
    this.sessionBatches += 1;
    this.sample(now);
  }

  /**
   * The run's totals as read from somewhere else (the store, where every worker's batches land):
   * what they grew by since the base counts as this tracker's session.
   */
  observe(total: Counts, batches: number, now: number): void {
    this.session = subtractCounts(total, this.base);
    this.sessionBatches = batches - this.baseBatches;
    this.sample(now);
  }

  /** Counts over the whole run (earlier executions included). */
  total(): Counts {
    return addCounts(this.base, this.session);
  }

  /** Counts of this execution only (the failure-ratio guard looks at these). */
  thisExecution(): Counts {
    return this.session;
  }

  batches(): number {
    return this.baseBatches + this.sessionBatches;
  }

  sessionBatchCount(): number {
    return this.sessionBatches;
  }

  itemsPerSecond(now: number): number {
    this.sample(now);
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const seconds = (last.at - first.at) / 1000;
    if (seconds <= 0) return 0;
    return (last.received - first.received) / seconds;
  }

  etaSeconds(now: number): number | null {
    if (this.plannedItems === null) return null;
    const remaining = Math.max(0, this.plannedItems - this.total().received);
    if (remaining === 0) return 0;
    const rate = this.itemsPerSecond(now);
    return rate > 0 ? remaining / rate : null;
  }

  elapsedMs(now: number): number {
    return now - this.startedAt;
  }

  private sample(now: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && last.at === now) last.received = this.session.received;
    else this.samples.push({ at: now, received: this.session.received });
    while (this.samples.length > 2 && now - this.samples[1]!.at >= this.windowMs) this.samples.shift();
  }
}
