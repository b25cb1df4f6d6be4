import type { Counts } from './counts.js';
import type { Cursor, ItemKey } from './cursor.js';
import type { RunState } from './run-state.js';

/** Options a run executes with: the definition's defaults overridden by the caller's. */
export interface RunOptions {
  batchSize: number;
  concurrency: number;
  /** Stop cleanly (state `paused`, resumable) after this many batches in this execution. */
  maxBatches?: number;
  /**
   * A canary: this many items for the whole run, over every lane of every worker (see canary.ts
   * for what counts); then the run pauses. Recorded with the run by the store, not kept here.
   */
  maxItems?: number;
  /** Gradual rollout: lanes start at 1 and rise to `concurrency` one step at a time while the gates hold. */
  gradual?: GradualOptions;
  maxFailureRatio: number;
  retry: RetryPolicy;
  /**
   * Re-trigger mode: `none` skips items the permanent ledger already holds (the default), `all`
   * delivers every item again, with idempotency keys of its own.
   */
  reprocess?: 'none' | 'all';
  /**
   * The concurrency limits the run was created under (from the definition), kept with the run so
   * that every worker, and `sluice status` without a config, applies the same ones.
   */
  limits?: RunLimits;
  /** Pause after each batch of a lane (ms). */
  batchDelayMs?: number;
  /** Lanes wait while the process uses more memory than this (MB of RSS). */
  maxMemoryMb?: number;
  /** Lanes yield between batches while the event loop lags more than this (ms). */
  maxEventLoopLagMs?: number;
  /** The throttle profile the run was started (or retuned) with. */
  profile?: 'background' | 'moderate' | 'fast';
}

export interface GradualOptions {
  /** Batches per step: the gates are judged over each step. Default 10. */
  stepBatches?: number;
  /** A step whose quarantined / received reaches this breaks the gate. Default 0.01. */
  maxFailureRatio?: number;
}

export interface RunLimits {
  /** Per concurrency key (a run parameter): running runs and leased partitions with the same value. */
  keys?: Record<string, { runs?: number; partitions?: number }>;
  /** Leased partitions over all runs of the backfill. */
  backfillPartitions?: number;
}

/** Parameters that select which items a run covers; fixed for the run's lifetime. */
export interface RunParams {
  /** ISO instant: only items at or after it. */
  since?: string;
  /** Free-form parameters passed through to `process` as `ctx.run.params`. */
  extra?: Record<string, unknown>;
}

export interface RetryPolicy {
  /** Attempts per batch before bisecting it to isolate failing items (1 = no retry). */
  attempts: number;
  /** First backoff delay; doubles each attempt, with full jitter. */
  baseDelayMs: number;
  /** Upper bound of a single backoff delay. */
  maxDelayMs: number;
}

/** A control request written to the store and picked up at the next batch boundary. */
export interface RunControl {
  kind: 'pause' | 'cancel';
  actor: string;
  reason: string;
  requestedAt: string;
}

export interface RunRecord {
  id: string;
  backfill: string;
  state: RunState;
  params: RunParams;
  options: RunOptions;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Why the run is in its state (last transition's reason). */
  reason: string | null;
  /** A pending control request, if any. */
  control: RunControl | null;
  /** Counts summed over partitions. */
  counts: Counts;
  batches: number;
  /** Items remaining when the run was planned (an estimate, for progress and ETA). */
  plannedItems: number | null;
  /** Values of the backfill's concurrency keys for this run, e.g. `{ installationId: "42" }`. */
  keys: Record<string, string>;
  /** Grows at every live retune (`sluice retune`) and ramp step: executions reload the options when it changes. */
  tuning: number;
  /**
   * A canary's budget over every worker: `items` in all, `left` not yet claimed by a batch (claims
   * of batches in flight are on their partitions until they commit). Null: no canary.
   */
  canary: { items: number; left: number } | null;
  /** A gradual rollout's ramp: the live leases (lanes, over every worker) it lets the run hold now. Null: no rollout. */
  rampLanes: number | null;
}

/** The rollout limits of the whole run, set when it is created, resumed or retried (null lifts them). */
export interface RolloutSettings {
  /** A canary: items the run may send to `process` before it pauses. */
  canaryItems: number | null;
  /** A gradual rollout: its ramp starts at one lane; the options are kept with the run for every worker. */
  gradual: GradualOptions | null;
}

/** What a batch's claim on the canary's budget got. */
export interface CanaryClaim {
  /** Items the batch may read: 0 when the budget has none left to give now. */
  granted: number;
  /** Items other batches of the run claimed and have not committed yet: what they do not use comes back. */
  inFlight: number;
}

/** A step of a gradual rollout's ramp, with the decision that records it (in the same transaction). */
export interface RampMove {
  from: number;
  to: number;
  decision: { worker: string; kind: string; reason: string; settings: object };
}

/** A throttle decision (paused, resumed, slowed, retuned …) as recorded with the run. */
export interface DecisionRecord {
  id: number;
  runId: string;
  worker: string;
  kind: string;
  reason: string;
  settings: Record<string, unknown>;
  at: string;
}

export type PartitionState = 'pending' | 'running' | 'done' | 'failed';

export interface PartitionRecord {
  runId: string;
  index: number;
  lower: Cursor;
  upper: Cursor;
  label: string | null;
  /** The fan-out child (entity type, tenant) this partition reads, if the backfill fans out. */
  child: string | null;
  /** Position after the last committed batch; `null` before the first. */
  cursor: Cursor;
  state: PartitionState;
  /** Fencing token: grows on every claim. A checkpoint must carry the current one. */
  fence: number;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  /** When the lease was last claimed, renewed or checkpointed (the store's clock); `null` before the first claim. */
  heartbeatAt: string | null;
  /** The partition a split carved this one out of (it covers the end of that one's former range). */
  splitFrom: number | null;
  counts: Counts;
  batches: number;
  error: string | null;
  updatedAt: string;
}

export interface TransitionRecord {
  runId: string;
  from: RunState | null;
  to: RunState;
  actor: string;
  reason: string;
  at: string;
}

/** What a worker holds while it works a partition. */
export interface PartitionLease {
  runId: string;
  index: number;
  fence: number;
  owner: string;
  expiresAt: string;
}

export interface QuarantineEntryInput {
  itemKey: ItemKey;
  errorClass: string;
  message: string;
  /** The item as JSON (or the raw record), truncated to a sample when large. */
  payload: string | null;
  locator?: Cursor;
  attempts: number;
}

export type QuarantineStatus = 'open' | 'replayed';

export interface QuarantineRecord extends QuarantineEntryInput {
  id: number;
  runId: string;
  backfill: string;
  partitionIndex: number | null;
  status: QuarantineStatus;
  createdAt: string;
  updatedAt: string;
}

/** A worker process: leases name it so that dead ones can be recognised. */
export interface WorkerIdentity {
  /** Unique per process, e.g. `host:pid:random`. */
  id: string;
  host: string;
  pid: number;
}

/**
 * Concurrency limits a claim or a start must respect, enforced by the store across every worker of
 * every machine (PostgreSQL serialises them with advisory locks; SQLite has one writer).
 */
export interface ConcurrencyLimits {
  /** Per concurrency key of the run: at most `runs` running runs and `partitions` leased partitions with the same value. */
  keys: ReadonlyArray<{ name: string; value: string; runs?: number; partitions?: number }>;
  /** At most this many leased partitions over all runs of the backfill. */
  backfillPartitions?: number;
}

/** What a limited claim found. */
export type ClaimResult =
  | { kind: 'claimed'; lease: PartitionLease }
  /** A limit is reached; `reason` says which, e.g. `orgId=7 has 5 running partitions (limit 5)`. */
  | { kind: 'blocked'; reason: string }
  /** No partition is free. */
  | { kind: 'none' };

/** What a guarded start found. */
export type StartResult =
  | { kind: 'started'; run: RunRecord }
  /** Another run holds the key's slots: this one stays pending (queued) behind it. */
  | { kind: 'queued'; reason: string; behind: string }
  /** The run was not in one of the expected states. */
  | { kind: 'unchanged' };

/** One committed batch, kept for SLOs, reports and charts. */
export interface BatchRecord {
  id: number;
  runId: string;
  backfill: string;
  partition: number;
  worker: string;
  /** When its checkpoint was written (ISO). */
  finishedAt: string;
  /** From reading the batch to writing its checkpoint. */
  durationMs: number;
  counts: Counts;
  /** Attempts of `process` that failed and were tried again, by error class ({} when none). */
  retries: Record<string, number>;
}

/** What a checkpoint records of its batch for the history. */
export interface BatchStats {
  worker: string;
  startedAtMs: number;
  finishedAtMs: number;
  /** Attempts of `process` that failed and were tried again, by error class (absent when none). */
  retries?: Record<string, number>;
}

/** A backfill's batches over a window, for the SLO evaluator. */
export interface BatchWindow {
  batches: number;
  /** Batches that took longer than the threshold asked for. */
  slowBatches: number;
  /** Items received. */
  items: number;
  /** Items quarantined (failed in `process` or malformed). */
  badItems: number;
}

/** What an API token may do: `read` < `write` < `admin`. */
export type TokenScope = 'read' | 'write' | 'admin';

/** An API token as stored: its secret only as a hash. */
export interface TokenRecord {
  id: string;
  name: string;
  scope: TokenScope;
  /** SHA-256 of the token's secret part (hex). */
  hash: string;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
}
