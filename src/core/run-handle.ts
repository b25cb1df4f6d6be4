import type { Counts } from './counts.js';
import type { ExitCode } from './errors.js';
import type { RunRecord } from './run.js';
import type { RunState } from './run-state.js';
import type { KnobLayer } from './throttle/knobs.js';

/** Options of `sluice.start` / `resume` / `retry`; they override the definition's defaults. */
export interface StartOptions {
  batchSize?: number;
  concurrency?: number;
  /** Stop cleanly after this many batches (the run is paused and resumable). */
  maxBatches?: number;
  /** A canary: stop cleanly (paused, resumable) after this many items. */
  maxItems?: number;
  /** Gradual rollout: start at one lane and add lanes while the gates hold (failures, health signals, fast SLO burn). */
  gradual?: boolean | import('./run.js').GradualOptions;
  /** Only items at or after this instant (a Date, an ISO string, or `7d` / `12h` / `30m`). Fixed at run creation. */
  since?: Date | string;
  /** Run `process` with `ctx.dryRun`, roll everything back, record nothing. */
  dryRun?: boolean;
  /** Always create a new run instead of resuming the open one. */
  newRun?: boolean;
  /** Who started it (recorded in the transition log). Default: `api`. */
  actor?: string;
  reason?: string;
  /** Free-form parameters recorded with the run and passed to `process` as `ctx.run.params.extra`. */
  params?: Record<string, unknown>;
  /** A throttle profile for this execution (a new run records it). */
  profile?: 'background' | 'moderate' | 'fast';
  /** Pause after each batch of a lane (ms). */
  batchDelayMs?: number;
  /** Lanes wait while RSS is above this many MB. */
  maxMemoryMb?: number;
  /** Lanes yield while the event loop lags more than this (ms). */
  maxEventLoopLagMs?: number;
  /** Knob layers with their sources (the CLI passes the environment's and the flags'), applied before the options above. */
  throttleLayers?: readonly KnobLayer[];
  /**
   * Re-trigger mode of a new run: `none` (default) skips items the permanent ledger holds; `all`
   * delivers every item again. (`sluice run --reprocess failed` replays quarantines instead.)
   */
  reprocess?: 'none' | 'all';
}

/** A progress snapshot, emitted on a ticker (not per item). */
export interface ProgressSnapshot {
  runId: string;
  backfill: string;
  state: RunState;
  counts: Counts;
  batches: number;
  /** Items the plan expected in total (null when the source cannot count). */
  plannedItems: number | null;
  /** Items received per second over the recent window. */
  itemsPerSecond: number;
  /** Seconds to go at the current rate, when known. */
  etaSeconds: number | null;
  elapsedMs: number;
  partitions: { total: number; done: number; running: number };
  dryRun: boolean;
}

export interface BatchEvent {
  runId: string;
  partition: number;
  size: number;
  durationMs: number;
  delta: Counts;
}

/** How an execution of a run ended in this process. */
export interface RunOutcome {
  runId: string;
  backfill: string;
  state: RunState;
  reason: string | null;
  /** The run's counts over all its executions and workers (a dry run: this execution's). */
  counts: Counts;
  batches: number;
  /** This execution's wall time, in this process. */
  durationMs: number;
  /** What this execution itself read and handled (the run's `counts` include other executions and workers). */
  executionCounts: Counts;
  /** Batches this execution committed. */
  executionBatches: number;
  /**
   * The time the run has spent executing over all its executions, up to now: its periods in state
   * `running` (pending and paused time excluded); this execution's time for a dry run. Null when the
   * store could not be read at the end.
   */
  activeMs: number | null;
  dryRun: boolean;
  /** Exit code the CLI should use for this outcome. */
  exitCode: ExitCode;
  /** The run as stored at the end (absent for dry runs, which store nothing). */
  record?: RunRecord;
}

export interface RunEvents {
  /** The run is executing (`resumed` when it continued an earlier execution). */
  started: [info: { runId: string; backfill: string; resumed: boolean; plannedItems: number | null; dryRun: boolean; throttle?: string }];
  batch: [BatchEvent];
  progress: [ProgressSnapshot];
  state: [change: { runId: string; from: RunState; to: RunState; actor: string; reason: string }];
  /** The throttle paused, resumed, slowed or was retuned. */
  throttle: [decision: { runId: string; kind: string; reason: string }];
  /** A batch failed an attempt and will be retried or bisected. */
  retry: [info: { runId: string; partition: number; attempt: number; delayMs: number; errorClass: string; message: string }];
  quarantined: [info: { runId: string; partition: number; count: number; errorClass: string }];
  /** A concurrency limit keeps this execution from claiming more partitions for now. */
  waiting: [info: { runId: string; reason: string }];
}

/** A run executing in this process. */
export interface RunHandle {
  readonly runId: string;
  readonly backfill: string;
  on<E extends keyof RunEvents>(event: E, listener: (...args: RunEvents[E]) => void): this;
  off<E extends keyof RunEvents>(event: E, listener: (...args: RunEvents[E]) => void): this;
  /** Finish the batches in flight, checkpoint, and leave the run paused (SIGINT/SIGTERM do this). */
  stop(actor: string, reason: string): void;
  /** Finish the batches in flight, checkpoint, and cancel the run. */
  cancel(actor: string, reason: string): void;
  /** Finish the batches in flight, checkpoint, and hand the partitions back: other workers go on with the run. */
  leave(reason: string): void;
  /**
   * Fires `ctx.signal` of the batches in flight, for a host that must shut down now: a `process`
   * that honours it stops early, its batch fails and rolls back, and a resume redoes it.
   */
  abortInFlight(): void;
  /** The latest progress snapshot. */
  progress(): ProgressSnapshot;
  /** Settles when this execution ends (succeeded, failed, paused or cancelled). Never rejects for run failures. */
  readonly done: Promise<RunOutcome>;
}
