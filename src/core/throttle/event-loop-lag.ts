import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * How late the event loop runs timers (p99 over the last second or so). Above the limit the lanes
 * yield between batches for as long as the lag, so that a web server hosting Sluice keeps
 * answering its own requests.
 */
export class EventLoopLag {
  private readonly histogram: IntervalHistogram;
  private lastReset = 0;

  constructor(
    private readonly limitMs: number,
    private readonly now: () => number,
  ) {
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
  }

  /** The lag to yield for before the next batch (0 when under the limit). */
  yieldMs(): number {
    const p99 = this.histogram.percentile(99) / 1e6;
    if (this.now() - this.lastReset > 1000) {
      this.histogram.reset();
      this.lastReset = this.now();
    }
    return p99 > this.limitMs ? Math.min(1000, Math.round(p99)) : 0;
  }

  close(): void {
    this.histogram.disable();
  }
}
