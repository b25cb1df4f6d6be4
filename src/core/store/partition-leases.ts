import type { Cursor } from '../cursor.js';
import type { ClaimResult, ConcurrencyLimits, PartitionLease, PartitionRecord, PartitionState } from '../run.js';

/**
 * A run's partitions and the leases workers hold on them: claiming (within concurrency limits),
 * heartbeats, releasing, splitting, and expiring the leases of dead workers. Every write is fenced:
 * a holder whose lease was taken over changes nothing.
 */
export interface PartitionLeases {
  listPartitions(runId: string): Promise<PartitionRecord[]>;

  /**
   * Claims one partition of the run that is `pending`, or `running` under an expired lease:
   * sets it `running`, increments its fence and leases it to `owner` until `now + leaseMs` (its
   * heartbeat is now). With `orphansOnly`, only a partition under an expired lease (a dead
   * worker's), never a pending one.
   */
  claimPartition(runId: string, owner: string, leaseMs: number, scope?: ClaimScope): Promise<PartitionLease | undefined>;

  /**
   * `claimPartition` within concurrency limits: counts the live leases of partitions whose runs
   * share each key value (and of the whole backfill), and of the run itself when a gradual
   * rollout's ramp limits it, and claims only below every limit. Atomic across workers.
   */
  claimPartitionWithin(runId: string, owner: string, leaseMs: number, limits: ConcurrencyLimits, scope?: ClaimScope): Promise<ClaimResult>;

  /** Extends a lease (a heartbeat). Returns false (and changes nothing) when the fence is stale. */
  renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean>;

  /**
   * Gives a partition up: `pending` (to be claimed again), `done` or `failed` (with `error`).
   * Fenced: returns false when the lease was already lost.
   */
  releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean>;

  /**
   * Splits a partition at `at`: it now ends at `at`, and a new pending partition covers the rest
   * (its `splitFrom` names the partition split).
   * Guarded: returns undefined (and changes nothing) when more than one batch was committed on the
   * partition since `observed` was read, when its end moved (someone split it first), or when it is
   * no longer pending or running.
   */
  splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined>;

  /** Expires every lease whose owner `isDead` says is gone, so that it can be claimed at once. */
  expireLeases(isDead: (owner: string) => boolean): Promise<number>;

  /** Resets `failed` partitions (all of them, or those given) to `pending`, for `retry`. */
  resetFailedPartitions(runId: string): Promise<number>;
}

/** Which partitions a claim may take. */
export interface ClaimScope {
  /** Only a partition whose lease expired (its worker died), never a pending one. */
  orphansOnly?: boolean;
}
