import { LeaseLostError } from './errors.js';
import type { Logger } from './logger.js';
import type { PartitionLease } from './run.js';
import type { Store } from './store.js';

/** What a lane's hold on a partition keeps alive while it works: see `LeaseHeartbeat`. */
export interface Heartbeat {
  /** Throws the `LeaseLostError` once a renewal found the lease gone (another worker took the partition over). */
  throwIfLost(): void;
  stop(): void;
}

export interface LeaseHeartbeatConfig {
  store: Store;
  lease: PartitionLease;
  leaseMs: number;
  runId: string;
  logger: Logger;
  /** The lane's batches in flight (one, or a window of them): a lost lease aborts their signals. */
  inFlight: ReadonlySet<AbortController>;
  /**
   * Called after a renewal while batches are in flight: the run's checkpoints look for a pause or
   * cancel asked elsewhere, but a batch slower than a lease would see one only at its end.
   */
  whileBatchesInFlight: () => void;
}

/**
 * Renews a partition's lease every third of the lease while a lane works it. The checkpoints renew
 * the lease too; the heartbeat covers batches slower than a lease. When a renewal finds the lease
 * gone, the batches in flight can no longer commit: their signals are aborted with a
 * `LeaseLostError` at once, so that `process` may stop instead of working for nothing.
 */
export class LeaseHeartbeat implements Heartbeat {
  private lost = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly config: LeaseHeartbeatConfig) {
    this.timer = setInterval(() => this.beat(), Math.max(100, Math.floor(config.leaseMs / 3)));
    // The lane's own work keeps the process alive, not its heartbeat.
    this.timer.unref();
  }

  throwIfLost(): void {
    if (this.lost) throw this.lostError();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private beat(): void {
    const { store, lease, leaseMs, inFlight, logger, runId } = this.config;
    store.renewLease(lease, leaseMs).then(
      (ok) => {
        if (ok) {
          if (inFlight.size > 0) this.config.whileBatchesInFlight();
          return;
        }
        this.lost = true;
        for (const batch of inFlight) batch.abort(this.lostError());
      },
      (error: unknown) => logger.warn({ runId, partition: lease.index, err: error }, 'lease renewal failed'),
    );
  }

  private lostError(): LeaseLostError {
    return new LeaseLostError(this.config.runId, this.config.lease.index, this.config.lease.fence);
  }
}

/** A dry run holds no lease: nothing to renew, nothing to lose. */
export const NO_HEARTBEAT: Heartbeat = { throwIfLost: () => undefined, stop: () => undefined };
