import type { BackfillDefinition } from './definition.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { DecisionRecord, PartitionRecord, QuarantineRecord, RunRecord, TransitionRecord, WorkerIdentity } from './run.js';
import type { RunHandle, StartOptions } from './run-handle.js';
import type { RunFilter, Store } from './store.js';
import type { Counts } from './counts.js';
import type { AlertRecord } from './slo/alert-record.js';
import type { Cursor } from './cursor.js';
import type { Stalled } from './lease-liveness.js';

export interface SluiceOptions {
  /**
   * The whole store: executions use most of its ports, and `Sluice.store` hands it on to the CLI
   * and the admin API (tokens, batch history, alerts and their outbox).
   */
  store: Store;
  // biome-ignore lint/suspicious/noExplicitAny: definitions of every item type in one list (process takes T, so unknown would refuse them)
  backfills: readonly BackfillDefinition<any>[];
  logger?: Logger;
  clock?: Clock;
  /** Identity of this process in leases; default `host:pid:random`. */
  worker?: WorkerIdentity;
  /** Lease length; a lease not renewed for this long can be taken over. Default 30 s. */
  leaseMs?: number;
  /** Interval of progress events. Default 1000 ms. */
  progressIntervalMs?: number;
  /**
   * Tells whether a lease owner (another process) is gone, so its partitions can be taken over at
   * once rather than when its lease expires. Default `ownerGoneFromThisHost`: a process of this
   * host (by hostname) whose pid no longer exists, or is now this process's (a restart). Pass
   * `() => false` where processes that share a hostname do not share a pid namespace (containers
   * given one hostname): there a live owner's pid may look gone, and its partitions would move
   * (safely, fenced) while it still works them.
   */
  isOwnerDead?: (owner: string) => boolean;
  /** How the memory guard reads memory (bytes); default `process.memoryUsage()`. */
  memoryReader?: () => { rss: number; heapUsed: number };
}

/** Everything `sluice status` shows about one run. */
export interface RunStatus {
  run: RunRecord;
  /** The store's clock when this was read: leases and heartbeat ages are judged by it. */
  at: string;
  partitions: PartitionStatus[];
  transitions: TransitionRecord[];
  quarantine: Array<{ errorClass: string; count: number }>;
  /** True when some partition is leased by a live worker (the run is executing somewhere). */
  active: boolean;
  /** For a running run that no live lease works on (every worker holding it is gone): since when. Else null. */
  stalled: Stalled | null;
  /** Results per fan-out child (entity type, tenant), when the backfill fans out. */
  children?: ChildResult[];
  /** For a pending run held back by a concurrency key: which run it waits for and why. */
  queuedBehind?: string;
  /** The last throttle decisions (paused, resumed, slowed, retuned …), newest first. */
  decisions: DecisionRecord[];
  /** What the throttle is doing now, e.g. paused: "db connections 83 % ≥ 80 %". */
  throttle: { state: 'running' | 'paused' | 'slowed'; reason: string | null; since: string | null };
  /** The backfill's SLO alerts that are pending or firing (resolved ones are in the history). */
  alerts: AlertRecord[];
}

/** A partition as `status` shows it: its record, and its lease judged on the store's clock. */
export interface PartitionStatus extends PartitionRecord {
  /** Its lease holds: running, not expired, its owner not known dead. */
  leaseLive: boolean;
  /** How long ago its last heartbeat (claim, renewal, checkpoint) was; null before its first claim. */
  heartbeatAgeMs: number | null;
  /**
   * What it still owns: from its checkpoint (or its start) to its end; null once done. A split
   * partition ends at the split point, and the partitions split from it own the rest.
   */
  remaining: { from: Cursor; to: Cursor } | null;
}

/** A run's plan, computed without recording it. */
export interface RunPreview {
  backfill: string;
  params: import('./run.js').RunParams;
  options: import('./run.js').RunOptions;
  keys: Record<string, string>;
  partitions: Array<{ label: string | null; child: string | null }>;
  /** Items the source counts for the run (null when it cannot count). */
  plannedItems: number | null;
}

/** What `enqueue` did: recorded a new run, found the open one, or handed a paused one back to the workers. */
export interface EnqueueResult {
  run: RunRecord;
  outcome: 'created' | 'open' | 'requeued';
}

/** A live retune: a profile and/or explicit knobs. */
export interface RetunePatch {
  batchSize?: number;
  concurrency?: number;
  batchDelayMs?: number;
  maxMemoryMb?: number;
  maxEventLoopLagMs?: number;
  profile?: 'background' | 'moderate' | 'fast';
}

/** One fan-out child's result, summed over its partitions. */
export interface ChildResult {
  child: string;
  /** `success`: all done; `partial`: done with quarantined items; `error`: a partition failed. */
  outcome: 'success' | 'partial' | 'error' | 'running' | 'pending';
  counts: Counts;
  partitions: number;
  error: string | null;
}

export interface ReplayResult {
  runId: string;
  attempted: number;
  replayed: number;
  stillFailing: number;
}

export interface Sluice {
  readonly store: Store;
  /** The registered backfills by name. */
  backfill(name: string): BackfillDefinition<unknown>;
  backfills(): readonly BackfillDefinition<unknown>[];

  /**
   * Starts the backfill: resumes its open run (pending, running after a crash, or paused) if there
   * is one, else creates a new run. With `dryRun`, nothing is recorded.
   */
  start(backfill: string, options?: StartOptions): Promise<RunHandle>;
  /**
   * A dry run on a sample: items across small, medium and large payloads plus malformed records,
   * processed with ctx.dryRun and rolled back; nothing is recorded.
   */
  sample(backfill: string, options?: StartOptions & { perBucket?: number; scan?: number }): Promise<import('./sample.js').SampleReport>;
  /** Runs the definition's checks against the run's results and records them with the run. */
  verify(runId: string, actor: string): Promise<import('./verify.js').VerificationRecord[]>;
  /** What a new run would cover (partitions, planned items, options) without recording anything. */
  preview(backfill: string, options?: StartOptions): Promise<RunPreview>;
  /**
   * Leaves the backfill to the workers, as `start` would run it here: continues its open run with
   * the same parameters (a paused one becomes pending again), or records a new pending run
   * (always with `newRun`). Throws `RunAlreadySucceededError` when its latest run with these
   * parameters succeeded (without `since` or `newRun`).
   */
  enqueue(backfill: string, options?: StartOptions): Promise<EnqueueResult>;
  /** Continues a paused (or crashed) run in this process. */
  resume(runId: string, options?: StartOptions): Promise<RunHandle>;
  /**
   * Works on a run beside other workers (PostgreSQL store): starts it if it is pending, then claims
   * whatever partitions are free. Never pauses the run on its own account; finishes it when the
   * last partition is done.
   */
  join(runId: string, options?: StartOptions): Promise<RunHandle>;
  /** Hands a paused run back to the workers: it becomes pending, and the next worker to look starts it. */
  requeue(runId: string, actor: string, reason: string): Promise<RunRecord>;
  /** Whether a worker could claim a partition of the run now (expiring the leases of dead workers first). */
  hasFreePartitions(runId: string): Promise<boolean>;
  /** Reopens a failed run for the workers: it becomes pending and its failed partitions go back to pending. */
  reopen(runId: string, actor: string, reason: string): Promise<RunRecord>;
  /** Reopens a failed run: failed partitions go back to pending and the run executes here. */
  retry(runId: string, options?: StartOptions): Promise<RunHandle>;

  /** Asks the run to pause at its next batch boundary (or pauses it at once when nothing executes it). */
  pause(runId: string, actor: string, reason: string): Promise<RunRecord>;
  /** Asks the run to stop at its next batch boundary and cancels it. */
  cancel(runId: string, actor: string, reason: string): Promise<RunRecord>;

  status(runId: string): Promise<RunStatus>;
  /** For a running run that no live lease works on (its workers are gone): since when; else null. Cheaper than `status`. */
  stalled(runId: string): Promise<Stalled | null>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /** Changes a running run's knobs; every worker applies them within one batch. */
  retune(runId: string, patch: RetunePatch, actor: string, reason: string): Promise<RunRecord>;
  /** Cancels every open run whose concurrency key `name` has `value` (a deleted installation). */
  cancelByKey(key: { name: string; value: string }, actor: string, reason: string): Promise<RunRecord[]>;
  listQuarantine(filter: {
    runId?: string;
    backfill?: string;
    errorClass?: string;
    status?: 'open' | 'replayed';
    limit?: number;
    afterId?: number;
  }): Promise<QuarantineRecord[]>;
  /** Processes open quarantine entries of a run again (after a fix); successes leave quarantine. */
  replayQuarantine(runId: string, options?: { errorClass?: string; ids?: readonly number[]; actor?: string }): Promise<ReplayResult>;

  close(): Promise<void>;
}
