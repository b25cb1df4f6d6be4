import { CoalescedCheckpoint } from './coalesced-checkpoint.js';
import type { Cursor } from './cursor.js';
import type { CheckpointEvery } from './definition.js';
import { LeaseLostError } from './errors.js';
import { type Heartbeat, LeaseHeartbeat, NO_HEARTBEAT } from './lease-heartbeat.js';
import { backoffDelay } from './retry.js';
import type { CanaryClaim, PartitionLease, RunControl } from './run.js';
import type { PartitionSpec } from './source.js';
import type { Store } from './store.js';
import { STORE_RETRY_POLICY, type StoreRetryContext, withStoreRetries } from './store-retries.js';

/**
 * A lane's hold on one partition, from its claim until the lane lets go of it. A real run holds a
 * lease in the store (`LeasedPartition`): the hold renews it, writes what waits to be written,
 * goes back to the stored checkpoint after store trouble, and hands the partition back. A dry run
 * works a planned partition in memory (`DryRunPartition`): the same calls do nothing, so that the
 * lane reads the same either way.
 */
export interface PartitionHold {
  readonly index: number;
  /** The partition's range: its end moves when another lane splits it. */
  spec: PartitionSpec;
  /** Where the lane starts reading: the partition's last checkpoint when it was claimed. */
  readonly cursor: Cursor;
  /** Batches the partition has committed (over every execution): the next batch's number is one more. */
  batches: number;
  /** The lease the lane's batches commit under; none in a dry run, whose batches commit nothing. */
  readonly lease: PartitionLease | undefined;
  /** `delivery: 'idempotent'`: the batches' checkpoints, waiting to be written together. */
  readonly coalesce: CoalescedCheckpoint | undefined;
  /** Keeps the hold alive while the lane works (see `LeaseHeartbeat`); stop it when the lane lets go. */
  keepAlive(inFlight: ReadonlySet<AbortController>, whileBatchesInFlight: () => void): Heartbeat;
  /** Claims up to `want` items of a canary's budget for the lane's next batch. */
  claimCanaryItems(want: number): Promise<CanaryClaim>;
  /**
   * After store trouble around a commit (`error`, the `storeFailures`th in a row): the cursor of
   * the checkpoint the store holds, to carry on from. Throws when the hold cannot go back to it.
   */
  resumeFromStoredCheckpoint(error: unknown, storeFailures: number): Promise<Cursor>;
  /** Lets go of the partition: writes the checkpoint that waits (if it can), then hands the partition back as `state`. */
  release(state: 'pending' | 'failed', message?: string): Promise<void>;
  /** Hands the partition back to pending as it is, without writing what waits (the store cannot write). */
  handBack(): Promise<void>;
}

/** What a leased partition needs from its execution. */
export interface LeasedPartitionContext extends StoreRetryContext {
  store: Store;
  leaseMs: number;
  /** `delivery: 'idempotent'`: how often the batches' checkpoints are written together (undefined: with every batch). */
  checkpointEvery: CheckpointEvery | undefined;
  /** A checkpoint written on release saw a pause or cancel asked meanwhile: the execution honours it. */
  onControl: (control: RunControl) => void;
}

/** A partition this lane holds a lease on, in the store. */
export class LeasedPartition implements PartitionHold {
  readonly index: number;
  spec: PartitionSpec;
  readonly cursor: Cursor;
  batches: number;
  readonly coalesce: CoalescedCheckpoint | undefined;

  constructor(
    private readonly ctx: LeasedPartitionContext,
    readonly lease: PartitionLease,
    claimed: { spec: PartitionSpec; cursor: Cursor; batches: number },
  ) {
    this.index = lease.index;
    this.spec = claimed.spec;
    this.cursor = claimed.cursor;
    this.batches = claimed.batches;
    // `delivery: 'idempotent'`: the batches' checkpoints wait to be written together. Whatever
    // ends the lane's hold on the partition writes what waits first (a lost lease cannot).
    this.coalesce = ctx.checkpointEvery ? new CoalescedCheckpoint(ctx.store, ctx.checkpointEvery, claimed.cursor) : undefined;
  }

  keepAlive(inFlight: ReadonlySet<AbortController>, whileBatchesInFlight: () => void): Heartbeat {
    const { ctx } = this;
    return new LeaseHeartbeat({
      store: ctx.store,
      lease: this.lease,
      leaseMs: ctx.leaseMs,
      runId: ctx.runId,
      logger: ctx.logger,
      inFlight,
      whileBatchesInFlight,
    });
  }

  claimCanaryItems(want: number): Promise<CanaryClaim> {
    return this.ctx.store.claimCanaryItems(this.lease, want);
  }

  /**
   * The connection failed around a commit: whether it landed or not, the store knows. Carries on
   * from the checkpoint it holds (the ledger skips what a landed commit delivered) and returns it.
   */
  async resumeFromStoredCheckpoint(error: unknown, storeFailures: number): Promise<Cursor> {
    const { ctx, lease } = this;
    const delayMs = backoffDelay(STORE_RETRY_POLICY, storeFailures, ctx.clock.random);
    ctx.logger.warn(
      { runId: ctx.runId, partition: this.index, delayMs, err: error },
      'the store connection failed during a batch; resuming from the stored checkpoint',
    );
    await ctx.clock.sleep(delayMs, ctx.signal);
    const stored = await withStoreRetries(ctx, 'reload the checkpoint', async () =>
      (await ctx.store.listPartitions(ctx.runId)).find((p) => p.index === this.index),
    );
    if (!stored || stored.fence !== lease.fence) throw new LeaseLostError(ctx.runId, this.index, lease.fence);
    // The checkpoints that waited are redone from the stored cursor (their writes are idempotent).
    this.coalesce?.reset(stored.cursor);
    this.batches = stored.batches;
    this.spec = { ...this.spec, upper: stored.upper };
    return stored.cursor;
  }

  async release(state: 'pending' | 'failed', message?: string): Promise<void> {
    const { ctx, coalesce } = this;
    if (coalesce?.pending) {
      // Unwritten, the waiting batches are redone by whoever claims the partition next (their
      // writes are idempotent): the partition is handed back either way.
      await withStoreRetries(ctx, 'write the waiting checkpoint', () => this.flushWaiting(coalesce)).catch((error: unknown) =>
        ctx.logger.warn(
          { runId: ctx.runId, partition: this.index, err: error },
          `the waiting checkpoint of ${coalesce.pending} batches was not written; they will be redone`,
        ),
      );
    }
    await ctx.store.releasePartition(this.lease, state, message);
  }

  async handBack(): Promise<void> {
    await this.ctx.store.releasePartition(this.lease, 'pending');
  }

  /** Writes the checkpoint that waits, and follows what it saw (a control request). */
  private async flushWaiting(coalesce: CoalescedCheckpoint): Promise<void> {
    const seen = await coalesce.flush();
    if (seen?.control) this.ctx.onControl(seen.control);
  }
}

/**
 * A planned partition a dry run works in memory: no lease to renew or lose, no canary budget to
 * claim from, no checkpoint to write or go back to, nothing to hand back.
 */
export class DryRunPartition implements PartitionHold {
  readonly lease = undefined;
  readonly coalesce = undefined;
  readonly cursor: Cursor = null;
  batches = 0;

  constructor(
    readonly index: number,
    public spec: PartitionSpec,
  ) {}

  keepAlive(): Heartbeat {
    return NO_HEARTBEAT;
  }

  /** A dry run claims nothing from the store: it may read all it wants. */
  async claimCanaryItems(want: number): Promise<CanaryClaim> {
    return { granted: want, inFlight: 0 };
  }

  /** No stored checkpoint to go back to: the store trouble fails the partition. */
  async resumeFromStoredCheckpoint(error: unknown): Promise<Cursor> {
    throw error;
  }

  async release(): Promise<void> {}

  async handBack(): Promise<void> {}
}
