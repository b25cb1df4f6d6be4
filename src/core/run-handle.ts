import type { Counts } from './counts.js';
import type { RunRecord } from './run.js';
import type { RunState } from './run-state.js';
import type { KnobLayer } from './throttle/knobs.js';

/** Options of `sluice.start` / `resume` / `retry`; they override the definition's defaults. */
export interface StartOptions {
  batchSize?: number;
  concurrency?: number;
  /** Stop cleanly after this many batches (the run is paused and resumable). */
  maxBatches?: number;
  /**
   * A canary: this many items for the whole run, over every lane of every worker (processed or
   * quarantined; items the ledger skips are free), then the run pauses. Kept in the store; a
   * start or resume without it lifts an earlier canary's budget. Not with `dryRun`.
   */
  maxItems?: number;
  /**
   * Gradual rollout: start at one lane and add lanes while the gates hold (failures, health
   * signals, fast SLO burn). The ramp is the run's, over every worker; a resume without it lifts it.
   */
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
  /**
   * How often the execution looks for partitions of its run whose lease expired (their worker
   * died) and takes them over on extra lanes, even while all its lanes are busy: a dead worker's
   * partitions are taken over within one lease plus this. Default 1000 ms (`sluice worker` passes
   * its `--poll`).
   */
  orphanPollMs?: number;
  /**
   * When this process has nothing left to claim but other workers still hold partitions of the run:
   * `true` (the default for start, resume and retry) keeps following the run, with run-wide
   * progress, claiming partitions that come free, until it ends or someone pauses or cancels it,
   * and `done` settles with that final state; `false` settles `done` at once with state `running`
   * (the CLI's exit code 5). Workers (`join`) never follow.
   */
  follow?: boolean;
}

/** A progress snapshot, emitted on a ticker (not per item). */
export interface ProgressSnapshot {
  runId: string;
  backfill: string;
  /**
   * `process`: the run's counts when this execution started plus what this process did since;
   * `run`: the whole run as stored, every worker together (while this process follows a run other
   * workers are finishing).
   */
  scope: 'process' | 'run';
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
  /**
   * True when the run paused because the start asked it to (`maxBatches` reached, a canary's
   * `maxItems` spent): a planned stop rather than an interruption.
   */
  pausedAsAsked: boolean;
  /** The run as stored at the end (absent for dry runs, which store nothing). */
  record?: RunRecord;
  /** When the run goes on without this process (state running): the live workers holding its partitions. */
  otherWorkers?: string[];
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
  /**
   * This process has nothing left to claim while other workers hold partitions: it follows the run
   * to its end, and its progress events are run-wide (`scope: 'run'`) from now on.
   */
  following: [info: { runId: string; otherWorkers: string[] }];
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
   * Finish the batches in flight and checkpoint; then, when other live workers hold partitions of
   * the run, hand this process's partitions back and leave the run running for them (`done`
   * settles with state `running`, exit code `handedOff`); when none do, pause the run as `stop`
   * does. What a foreground process does on its first SIGINT.
   */
  withdraw(actor: string, reason: string): void;
  /** The live workers other than this process that hold partitions of the run now. */
  otherWorkers(): Promise<string[]>;
  /**
   * Fires `ctx.signal` of the batches in flight, for a host that must shut down now: a `process`
   * that honours it stops early, its batch fails and rolls back, and a resume redoes it.
   */
  abortInFlight(): void;
  /** The latest progress snapshot. */
  progress(): ProgressSnapshot;
  /**
   * Settles when this execution ends: with the run's final state (succeeded, failed, paused or
   * cancelled), also when other workers finished it while this process followed; with `running`
   * when this process left the run to other workers (`follow: false`, `leave`, `withdraw`). Never
   * rejects for run failures.
   */
  readonly done: Promise<RunOutcome>;
}
