import type { Counts } from './counts.js';
import type { Cursor, ItemKey } from './cursor.js';
import type { VerificationRecord } from './verify.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from './slo/alert-record.js';
import type {
  ClaimedNotifications,
  NewNotification,
  OutboxClaim,
  OutboxRecord,
  OutboxSettlement,
  OutboxState,
} from './slo/alert-outbox.js';
import type {
  BatchRecord,
  BatchStats,
  TokenRecord,
  BatchWindow,
  CanaryClaim,
  ClaimResult,
  DecisionRecord,
  ConcurrencyLimits,
  PartitionLease,
  PartitionRecord,
  PartitionState,
  QuarantineEntryInput,
  QuarantineRecord,
  QuarantineStatus,
  RampMove,
  RolloutSettings,
  RunControl,
  RunOptions,
  RunParams,
  RunRecord,
  StartResult,
  TransitionRecord,
} from './run.js';
import type { RunState } from './run-state.js';
import type { PartitionSpec } from './source.js';
import type { SqlConnection, SqlDialect, SqlTransaction } from './sql.js';

/**
 * Where runs, partitions, checkpoints, the transition log, quarantine and the dedup ledger live.
 * The core owns this interface; `stores/sqlite` (and later `stores/postgres`) implement it, and one
 * contract test suite runs against every implementation.
 *
 * Concurrency: every method may be called concurrently from several async lanes of one process.
 * Implementations serialise what their database needs serialised (SQLite: one writer).
 */
export interface Store {
  readonly dialect: SqlDialect;
  /** A human description, e.g. the SQLite file path. */
  readonly location: string;

  /** A read connection to the store's own database, for sources whose target is that database. */
  readConnection(): SqlConnection;

  /**
   * The store's clock (ms since the epoch): leases expire by it, so whoever judges a lease (live,
   * expired, how old its heartbeat) asks it instead of the process's clock, which may drift on
   * machines other than the database's.
   */
  clockNow(): Promise<number>;

  close(): Promise<void>;

  // ---- runs -------------------------------------------------------------------------------

  /** Creates a run in state `pending` with its partitions, recording the first transition. */
  createRun(input: NewRun): Promise<RunRecord>;

  /**
   * Creates the run unless the backfill already has one for the same parameters (`params.extra`),
   * in one atomic step across processes and machines (SQLite: one write transaction; PostgreSQL: a
   * transaction-scoped lock on the backfill and its parameters), so that any number of concurrent
   * starts make one run. What it looks for, newest first: an open run (pending, running, paused);
   * then, with `orSucceeded`, the latest run with these parameters when it succeeded and had no
   * `since` (the backfill is done: the caller reports it instead of writing everything again).
   * `created` says whether `run` is the new one.
   */
  createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** Runs, newest first; `key` keeps those whose concurrency key `name` has `value`. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;

  /**
   * Moves a run from one of `from` to `running` unless `limits` forbid it: when a concurrency key
   * already has its `runs` limit of running runs with the same value (on any machine), the run
   * stays where it is and the result names the run it queues behind. Atomic across workers.
   */
  startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult>;

  /**
   * Moves a run to `to` if its current state is one of `from` (compare-and-set) and records the
   * transition. Clears a pending control request when `to` is paused, cancelled or terminal.
   * Returns the updated run, or `undefined` when the run was not in one of `from`.
   */
  transitionRun(runId: string, from: readonly RunState[], to: RunState, actor: string, reason: string): Promise<RunRecord | undefined>;
  listTransitions(runId: string): Promise<TransitionRecord[]>;

  /**
   * Changes a run's options (a live retune) and increments its `tuning` version, which every
   * checkpoint returns: executions on every worker reload the options within one batch.
   */
  updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord>;

  /** Records a throttle decision of a worker executing the run. */
  recordDecision(runId: string, decision: { worker: string; kind: string; reason: string; settings: object }): Promise<void>;
  /** The run's throttle decisions, newest first. */
  listDecisions(runId: string, limit?: number): Promise<DecisionRecord[]>;

  /** Writes (or clears, with `null`) a control request that workers pick up at the next batch boundary. */
  setControl(runId: string, control: RunControl | null): Promise<void>;
  /**
   * Records the run's planned items, counted after the run was created (a count that runs beside
   * the first batches). Only a run without them takes them: false when it had them already.
   */
  setPlannedItems(runId: string, plannedItems: number): Promise<boolean>;

  // ---- rollout budgets of the whole run --------------------------------------------------------

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

  // ---- partitions and leases ------------------------------------------------------------------

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

  // ---- batches --------------------------------------------------------------------------------

  /**
   * Runs `work` in one transaction on the store's database. When `work` throws, or when
   * `rollback` is set (dry runs), everything it did is rolled back.
   */
  transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;

  /** Keys among `keys` already in the ledger of `namespace` (outside any batch transaction). */
  deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>>;

  // ---- quarantine -----------------------------------------------------------------------------

  listQuarantine(filter: {
    runId?: string;
    backfill?: string;
    status?: QuarantineStatus;
    errorClass?: string;
    limit?: number;
    afterId?: number;
  }): Promise<QuarantineRecord[]>;
  /** Counts of open quarantine entries by error class. */
  quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>>;

  // ---- batch history and SLO alerts -----------------------------------------------------------

  /** The run's committed batches in commit order (`afterId` pages on). */
  listBatches(runId: string, options?: { afterId?: number; limit?: number }): Promise<BatchRecord[]>;

  /** The backfill's batches whose checkpoints were written at or after `sinceMs`, summed. */
  batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow>;

  /** Alerts that ever left `inactive`, of one backfill or all. */
  listAlerts(backfill?: string): Promise<AlertRecord[]>;

  /**
   * Moves an alert from `change.from` to `change.to` (compare-and-set: false when another process
   * moved it first) and records the event when the state changes. With `from === to` it only
   * refreshes the burn rates and summary. `notify` goes into the outbox in the same transaction
   * when the state changes (claimed by `notify.owner`), and never otherwise.
   */
  changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean>;

  /** Alert state changes, oldest first, optionally of one backfill, alert or time range (ms). */
  listAlertEvents(filter?: {
    backfill?: string;
    alert?: AlertKey;
    sinceMs?: number;
    untilMs?: number;
    limit?: number;
  }): Promise<AlertEventRecord[]>;

  // ---- alert notifications (the outbox) ---------------------------------------------------------

  /**
   * Claims up to `limit` pending notifications of `backfills` that are due (their next attempt has
   * come) and not claimed by another live claim, for `leaseMs`; the owner's own claims are claimed
   * again. Two evaluators claiming at once get disjoint rows.
   */
  claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications>;

  /** Replaces the body of a notification the owner still holds (every webhook's row). False when the claim was lost. */
  reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean>;

  /**
   * Records how an attempt to one webhook ended and releases the claim: delivered, failed for good,
   * or to retry in `retryInMs`. False (and nothing written) when another evaluator holds it now.
   */
  settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean>;

  /** Outbox rows, oldest first, optionally of one backfill or state. */
  listNotifications(filter?: { backfill?: string; state?: OutboxState; limit?: number }): Promise<OutboxRecord[]>;

  // ---- verification ---------------------------------------------------------------------------

  recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void>;
  /** The run's verification results, oldest first. */
  listVerifications(runId: string): Promise<VerificationRecord[]>;

  // ---- API tokens ---------------------------------------------------------------------------

  createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Marks a token revoked; false when there is no such token or it was revoked already. */
  revokeToken(id: string): Promise<boolean>;
}

/** Which partitions a claim may take. */
export interface ClaimScope {
  /** Only a partition whose lease expired (its worker died), never a pending one. */
  orphansOnly?: boolean;
}

export interface RunFilter {
  backfill?: string;
  /** Only runs with these parameters (`params.extra`, compared by their canonical text). */
  params?: Record<string, unknown>;
  states?: readonly RunState[];
  key?: { name: string; value: string };
  limit?: number;
}

/** What `createRun` needs. */
export interface NewRun {
  id: string;
  backfill: string;
  params: RunParams;
  options: RunOptions;
  createdBy: string;
  reason: string;
  partitions: readonly PartitionSpec[];
  plannedItems: number | null;
  /** Concurrency key values, e.g. `{ installationId: "42" }` (default none). */
  keys?: Record<string, string>;
  /** Its canary budget and gradual ramp (default none). */
  rollout?: RolloutSettings;
}

/** The open batch transaction. */
export interface StoreTransaction {
  /** The same transaction as a SQL connection, handed to transactional `process` functions as `ctx.tx`. */
  readonly sql: SqlTransaction;

  /** Runs `work` under a savepoint: if it throws, only its own writes are undone, and the error is rethrown. */
  savepoint<T>(work: () => Promise<T>): Promise<T>;

  /** Keys among `keys` already in the ledger of `namespace`. */
  deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>>;

  /**
   * Writes the batch's checkpoint, fenced by the lease: advances the partition's cursor, adds
   * `delta` to its counts, records ledger keys and quarantine entries, and (with `done`) marks the
   * partition done and releases its lease. Throws `LeaseLostError` when the fence is stale (the
   * caller must let the transaction roll back). Returns the run's pending control request and its
   * state, read in the same transaction (a worker stops when another one paused or ended the run),
   * and the partition's upper bound (another worker may have split it). It is the transaction's
   * last statement: a store may send the COMMIT with it (PostgreSQL does, in one round trip), so
   * nothing may be written through the transaction after it.
   */
  checkpoint(write: CheckpointWrite): Promise<CheckpointSeen>;

  /**
   * Marks quarantine entries replayed (by id) and moves their counts on the run's partitions:
   * quarantined − n, processed + n. Used by `quarantine replay`.
   */
  markReplayed(runId: string, ids: readonly number[], ledger?: { namespace: string; keys: readonly ItemKey[] }): Promise<void>;
  /**
   * Adds keys to the permanent ledger ahead of their batch's checkpoint: items a batch delivered
   * while others of it wait to be retried, so that a crash before the checkpoint does not send them again.
   */
  recordDelivered(runId: string, ledger: { namespace: string; keys: readonly ItemKey[] }): Promise<void>;

  /** Records a failed replay attempt: increments attempts and stores the new error. */
  recordReplayFailure(id: number, errorClass: string, message: string): Promise<void>;
}

export interface TransactionOptions {
  /** Roll back what `work` did (dry runs). */
  rollback?: boolean;
  /**
   * The transaction holds a batch's writes together with its checkpoint (`delivery:
   * 'transactional'`): a server crash loses both or neither, and a lost batch is read and done
   * again from the checkpoint before it. The store may then commit without waiting for the commit
   * to be durable (PostgreSQL's `synchronous_commit = off`). Never set for anything else: a
   * checkpoint whose writes went elsewhere, a transition, a release.
   */
  redoable?: boolean;
}

/** What a checkpoint reads back in its own statement. */
export interface CheckpointSeen {
  control: RunControl | null;
  runState: RunState;
  upper: Cursor;
  /** The run's `tuning` version: when it moved, the options were retuned. */
  tuning: number;
  /** The run's gradual ramp (null: none): when it moved, another worker stepped it. */
  rampLanes: number | null;
}

export interface CheckpointWrite {
  lease: PartitionLease;
  /**
   * The cursor the batch was read from. The checkpoint only applies while the partition still has
   * it; otherwise (an earlier attempt committed, its acknowledgement lost) it throws
   * `CheckpointMovedError` so that nothing is written twice.
   */
  previousCursor: Cursor;
  /** Cursor after this batch. */
  cursor: Cursor;
  /** The partition is exhausted: mark it done and release the lease. */
  done: boolean;
  delta: Counts;
  /** Keys to add to the permanent ledger (ignored when already there). */
  ledger?: { namespace: string; keys: readonly ItemKey[] };
  quarantine?: readonly QuarantineEntryInput[];
  /** New lease expiry (the checkpoint doubles as a heartbeat). */
  leaseMs: number;
  /** The batch's timing, kept in the batch history (SLOs, reports). */
  stats?: BatchStats;
  /**
   * The batch claimed items of a canary's budget (`claimCanaryItems`): how many it used. The
   * partition's claim is settled with the checkpoint; what the batch did not use returns to the run.
   */
  canaryUsed?: number;
}
