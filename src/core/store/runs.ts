import type {
  ConcurrencyLimits,
  DecisionRecord,
  RolloutSettings,
  RunControl,
  RunOptions,
  RunParams,
  RunRecord,
  StartResult,
  TransitionRecord,
} from '../run.js';
import type { RunState } from '../run-state.js';
import type { PartitionSpec } from '../source.js';

/**
 * Runs and their lifecycle: creating them (once per backfill and parameters), reading and listing
 * them, their state transitions, control requests, live options and the throttle's decisions. The
 * engine, the server's routes and the reports use it.
 */
export interface RunStore {
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
