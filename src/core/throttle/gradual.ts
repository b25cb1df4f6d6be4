/** What the gates read at the end of a step. */
export interface GateReadings {
  /** The worst health signal now (database connections, probes …): `ok` lets the rollout go on. */
  signal: 'ok' | 'slow' | 'stop';
  signalReason: string;
  /** A page-severity SLO alert of the backfill is firing (a fast burn). */
  pageAlert: string | undefined;
}

export interface GradualStep {
  concurrency: number;
  /** `raised`, `held` (at the maximum, or at 1 with a gate broken) or `lowered`. */
  change: 'raised' | 'held' | 'lowered';
  reason: string;
}

/**
 * Gradual rollout (seed 001's "ramp up while the gates hold"): lanes start at one and rise by one
 * every `stepBatches` batches while the step's failure ratio stays under the limit, the health
 * signals say ok and no fast SLO burn pages; when a gate breaks, one lane comes off. Pure: the
 * throttle feeds it batches and readings, and records every step. The lanes are the whole run's
 * (the store keeps them, over every worker): `follow` takes them up before a step is judged and
 * whenever another worker moved them.
 */
export class GradualRollout {
  private batches = 0;
  private received = 0;
  private quarantined = 0;

  constructor(
    private max: number,
    private readonly stepBatches = 10,
    private readonly maxFailureRatio = 0.01,
    private lanes = 1,
  ) {}

  get concurrency(): number {
    return Math.min(this.lanes, this.max);
  }

  /** The run's ramp as the store has it now (another worker may have stepped it). */
  follow(lanes: number): void {
    this.lanes = Math.max(1, lanes);
  }

  /** A retune moves the ceiling; the rollout goes on from where it is. */
  setMax(max: number): void {
    this.max = Math.max(1, max);
  }

  /** Counts a batch; true when a step is complete and the gates should be read. */
  observe(received: number, quarantined: number): boolean {
    this.batches += 1;
    this.received += received;
    this.quarantined += quarantined;
    return this.batches >= this.stepBatches;
  }

  /** Ends the step: judges the gates and moves the lanes. */
  step(gates: GateReadings): GradualStep {
    const ratio = this.received === 0 ? 0 : this.quarantined / this.received;
    const failures = `failures ${(ratio * 100).toFixed(1)} %`;
    this.batches = 0;
    this.received = 0;
    this.quarantined = 0;
    const broken = [
      ratio >= this.maxFailureRatio ? `${failures} ≥ ${(this.maxFailureRatio * 100).toFixed(1)} %` : undefined,
      gates.signal !== 'ok' ? `signal ${gates.signal}: ${gates.signalReason}` : undefined,
      gates.pageAlert ? `fast SLO burn: ${gates.pageAlert}` : undefined,
    ].filter((g): g is string => g !== undefined);
    if (broken.length > 0) {
      if (this.lanes > 1) {
        this.lanes -= 1;
        return {
          concurrency: this.concurrency,
          change: 'lowered',
          reason: `stepped back to ${this.concurrency} lane(s): ${broken.join('; ')}`,
        };
      }
      return { concurrency: this.concurrency, change: 'held', reason: `held at 1 lane: ${broken.join('; ')}` };
    }
    const passed = `${failures} < ${(this.maxFailureRatio * 100).toFixed(1)} %, signals ok, no fast burn`;
    if (this.lanes < this.max) {
      this.lanes += 1;
      return { concurrency: this.concurrency, change: 'raised', reason: `raised to ${this.concurrency} lane(s): ${passed}` };
    }
    return { concurrency: this.concurrency, change: 'held', reason: `at the full ${this.max} lane(s): ${passed}` };
  }
}
