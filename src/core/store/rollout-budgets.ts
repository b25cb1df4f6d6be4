import type { CanaryClaim, PartitionLease, RampMove, RolloutSettings, RunRecord } from '../run.js';

/** A run's canary budget and gradual ramp, shared by every worker that executes the run. */
export interface RolloutBudgets {
  /**
   * Sets, or lifts with null, the run's canary budget and gradual ramp (a ramp starts at one lane),
   * dropping claims outstanding from earlier executions. Called while no worker executes the run
   * (at a start, resume or retry), before it is running again.
   */
  setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord>;

  /**
   * Claims up to `want` items of the run's canary budget for the next batch of the lease's
   * partition, atomically across workers: the partition's earlier claim (a batch that failed
   * before committing) returns first, and so do claims on partitions no live lease holds any more
   * (their leases are revoked: a holder that wakes up cannot commit). The claim stays on the
   * partition until the batch's checkpoint settles it (`CheckpointWrite.canaryUsed`). A run
   * without a canary grants `want`. Throws `LeaseLostError` when the fence is stale.
   */
  claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim>;

  /**
   * Moves a gradual rollout's ramp from `from` lanes to `to` and records the step's decision, in
   * one transaction; false (nothing changed) when the ramp is no longer at `from` (another worker
   * stepped first). Every execution of the run learns the new ramp from its next checkpoint.
   */
  moveRamp(runId: string, move: RampMove): Promise<boolean>;
}
