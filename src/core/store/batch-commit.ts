import type { Counts } from '../counts.js';
import type { Cursor, ItemKey } from '../cursor.js';
import type { BatchStats, PartitionLease, QuarantineEntryInput, RunControl } from '../run.js';
import type { RunState } from '../run-state.js';
import type { SqlTransaction } from '../sql.js';

/**
 * The batch transaction: a batch's own writes (delivery `transactional`), its checkpoint, its
 * ledger keys and its quarantine entries commit together or not at all. The batch runner uses it.
 */
export interface BatchCommit {
  /**
   * Runs `work` in one transaction on the store's database. When `work` throws, or when
   * `rollback` is set (dry runs), everything it did is rolled back.
   */
  transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;

  /** Keys among `keys` already in the ledger of `namespace` (outside any batch transaction). */
  deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>>;
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
