import { EventEmitter } from 'node:events';
import { type Context, context, ROOT_CONTEXT } from '@opentelemetry/api';
import { activeMs } from './active-time.js';
import { BatchRunner, type BatchResult } from './batch-runner.js';
import { BatchSignals } from './batch-signals.js';
import { BATCHES_IN_FLIGHT_PER_LANE, CommitWindow } from './commit-window.js';
import type { Clock } from './clock.js';
import { addCounts, type Counts, failureRatio, zeroCounts } from './counts.js';
import type { Cursor } from './cursor.js';
import type { BackfillDefinition } from './definition.js';
import {
  BatchAbortedError,
  CheckpointMovedError,
  errorClassOf,
  isStoreWriteFailure,
  isTransientStoreError,
  LeaseLostError,
  messageOf,
} from './errors.js';
import type { Logger } from './logger.js';
import { DryRunPartition, LeasedPartition, type LeasedPartitionContext, type PartitionHold } from './partition-hold.js';
import { PartitionSplitter, specOf } from './partition-splitter.js';
import { ProgressTracker } from './progress-tracker.js';
import { ReadAhead } from './read-ahead.js';
import { readWithRetries } from './source-reads.js';
import { abortsBatches, type StopRequest, stopPhrase } from './stop-request.js';
import { STORE_RETRY_ATTEMPTS, type StoreRetryContext, withStoreRetries } from './store-retries.js';
import { hasLimits } from './concurrency.js';
import { liveLeaseOwners } from './lease-liveness.js';
import { canaryDoneReason } from './rollout.js';
import { knobsOf } from './throttle/knobs.js';
import type { Throttle } from './throttle/throttle.js';
import type { ConcurrencyLimits, PartitionLease, PartitionRecord, RunOptions, RunParams, RunRecord, WorkerIdentity } from './run.js';
import type { ProgressSnapshot, RunEvents, RunHandle, RunOutcome } from './run-handle.js';
import type { RunState } from './run-state.js';
import { type RunReading, RunWatch } from './run-watch.js';
import type { PartitionSpec, SourceBatch, SourceFilter, SourceReader } from './source.js';
import type { ClaimScope, Store } from './store.js';
import { contextWith, markFailed, recordError, setAttributes, tracer } from './tracing.js';

/** The failure-ratio guard waits for this many items before it judges a ratio. */
export const FAILURE_RATIO_MIN_ITEMS = 100;
/** Longest stretch the batch loop keeps the event loop to itself. */
const YIELD_EVERY_MS = 10;

export interface ExecutionConfig {
  store: Store;
  definition: BackfillDefinition<unknown>;
  reader: SourceReader<unknown>;
  clock: Clock;
  logger: Logger;
  worker: WorkerIdentity;
  leaseMs: number;
  progressIntervalMs: number;
  /** The run being executed. Dry runs pass an unsaved stand-in. */
  run: {
    id: string;
    backfill: string;
    params: RunParams;
    counts: Counts;
    batches: number;
    plannedItems: number | null;
    tuning?: number;
    canary?: { items: number } | null;
    rampLanes?: number | null;
  };
  options: RunOptions;
  filter: SourceFilter;
  /** Who started this execution (the actor of the final transition when it ends by itself). */
  actor: string;
  dryRun: boolean;
  /** Dry runs only: the planned partitions, worked in memory. */
  dryPartitions?: readonly PartitionSpec[];
  /** Called once when the execution has ended, before `done` settles. */
  onEnded?: () => void;
  /** Concurrency limits every claim must respect (none by default). */
  limits?: ConcurrencyLimits;
  /** Paces the batches (guards, signals, delay); none in dry runs built without one. */
  throttle?: Throttle;
  /**
   * When a limit blocks every lane: wait for a slot (a foreground run) instead of leaving the run
   * to the workers already holding its slots (a worker, which has other runs to look at).
   */
  waitWhenBlocked?: boolean;
  /**
   * How often to look for partitions of this run whose lease expired (their worker died) and adopt
   * them on extra lanes, even while every lane is busy: they are taken over within a lease plus
   * this. Unset: never (dry runs).
   */
  orphanPollMs?: number;
  /**
   * When this process has nothing left to claim but other workers hold partitions: follow the run
   * to its end (a foreground run) instead of leaving it to them (a worker).
   */
  follow?: boolean;
  /** Tells whether a lease owner is gone, so that a follower can take its partitions over at once. */
  isOwnerDead?: (owner: string) => boolean;
}

/** How often a lane blocked by a concurrency limit looks again. */
const BLOCKED_POLL_MS = 500;
/** How often a lane waiting for a canary's items in flight elsewhere (they may come back) looks again. */
const CANARY_POLL_MS = 100;

/** A batch of a lane, once its checkpoint committed: what the lane follows, in order. */
interface LaneBatch {
  result: BatchResult;
  read: SourceBatch<unknown>;
  /** When the lane started it (before its read) and when its checkpoint returned (the clock's ms). */
  startedAt: number;
  finishedAt: number;
}

/**
 * One execution of a run in this process: `concurrency` lanes, each claiming a partition and
 * working it batch by batch until it is done, the run is told to stop, or the lease is lost.
 * Controls (pause, cancel) are honoured at batch boundaries, after a checkpoint.
 */
export class RunExecution extends EventEmitter implements RunHandle {
  readonly runId: string;
  readonly backfill: string;
  readonly done: Promise<RunOutcome>;

  private readonly tracker: ProgressTracker;
  private readonly runner: BatchRunner;
  /** Halves the largest partition when a lane finds nothing to claim; none in a dry run. */
  private readonly splitter: PartitionSplitter | undefined;
  /** Aborted by `abortInFlight()`: cuts short the waits between attempts and reads. */
  private readonly abort = new AbortController();
  /** The signals of the batches in flight (`ctx.signal`): a pause, a cancel or `abortInFlight()` aborts them. */
  private readonly batchSignals: BatchSignals;
  /** The trace context of this execution's `sluice.run` span (the root until it starts). */
  private traceContext: Context = ROOT_CONTEXT;
  private stopRequest: StopRequest | null = null;
  private batchesStarted = 0;
  private state: RunState = 'running';
  private readonly errors: Array<{ partition: number; message: string }> = [];
  private readonly partitionsDone = new Set<number>();
  private readonly partitionsRunning = new Set<number>();
  private partitionTotal = 0;
  private readonly dryQueue: DryRunPartition[] = [];
  private readonly startedAt: number;
  private lastYieldAt = 0;
  private blockedReason: string | undefined;
  private readonly lanes = new Map<number, Promise<void>>();
  private laneError: { error: unknown } | undefined;
  private lanesIdle: (() => void) | undefined;
  private concurrency = 1;
  private tuning: number;
  /** A gradual rollout's ramp as this execution last saw it in the store (null: none). */
  private rampLanes: number | null;
  /** Aborted by the first stop request: wakes lanes sleeping in a throttle wait. */
  private readonly stopSignal = new AbortController();
  private orphanWatch: NodeJS.Timeout | undefined;
  /** A look for orphans is under way (looks never overlap). */
  private lookingForOrphans = false;
  /** Lanes working adopted partitions now. */
  private adoptedLanes = 0;
  /**
   * Adopted lanes are numbered below zero, apart from the regular lanes 0..concurrency-1, which
   * retunes add and retire by number.
   */
  private nextAdoptedLane = -1;
  /** The whole run as stored, once this process follows a run other workers are finishing. */
  private watch: RunWatch | undefined;
  /** Emits progress (and, once following, reads the run) at the progress interval. */
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly config: ExecutionConfig) {
    super();
    this.runId = config.run.id;
    this.batchSignals = new BatchSignals(this.runId, this.abort.signal, () => this.stopRequest);
    this.backfill = config.run.backfill;
    this.startedAt = config.clock.now();
    this.tuning = config.run.tuning ?? 0;
    this.rampLanes = config.run.rampLanes ?? null;
    this.tracker = new ProgressTracker(config.run.counts, config.run.batches, config.run.plannedItems, this.startedAt);
    this.runner = new BatchRunner({
      store: config.store,
      definition: config.definition,
      run: { id: config.run.id, backfill: config.run.backfill, params: config.run.params },
      retry: config.options.retry,
      reprocessAll: config.options.reprocess === 'all',
      dryRun: config.dryRun,
      leaseMs: config.leaseMs,
      clock: config.clock,
      logger: config.logger,
      onRetry: (info) => {
        // `event`: this record mirrors the `retry` event; a host that prints the events drops it.
        config.logger.warn({ event: 'retry', runId: this.runId, ...info }, 'batch failed; retrying after backoff');
        this.emit('retry', { runId: this.runId, ...info });
      },
      onQuarantine: (info) => {
        config.logger.warn(
          { event: 'quarantined', runId: this.runId, ...info },
          config.dryRun ? 'items would be quarantined (dry run: nothing is written)' : 'items quarantined',
        );
        this.emit('quarantined', { runId: this.runId, ...info });
      },
    });
    this.splitter = config.dryPartitions
      ? undefined
      : new PartitionSplitter({
          store: config.store,
          reader: config.reader,
          filter: config.filter,
          runId: config.run.id,
          logger: config.logger,
          checkpointEvery: config.definition.checkpointEvery,
          onSplit: () => (this.partitionTotal += 1),
        });
    config.throttle?.onDecision((d) => this.emit('throttle', { runId: this.runId, kind: d.kind, reason: d.reason }));
    if (config.dryPartitions) {
      config.dryPartitions.forEach((spec, index) => this.dryQueue.push(new DryRunPartition(index, spec)));
    }
    // Start on the next tick so that callers can attach listeners first.
    this.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.execute());
    this.done.catch(() => undefined);
  }

  override on<E extends keyof RunEvents>(event: E, listener: (...args: RunEvents[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof RunEvents>(event: E, listener: (...args: RunEvents[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  stop(actor: string, reason: string): void {
    this.requestStop({ kind: 'pause', actor, reason, asExpected: false });
  }

  cancel(actor: string, reason: string): void {
    this.requestStop({ kind: 'cancel', actor, reason, asExpected: false });
  }

  leave(reason: string): void {
    this.requestStop({ kind: 'leave', actor: 'sluice', reason, asExpected: true });
  }

  withdraw(actor: string, reason: string): void {
    this.requestStop({ kind: 'withdraw', actor, reason, asExpected: false });
  }

  async otherWorkers(): Promise<string[]> {
    if (this.config.dryPartitions) return [];
    return this.othersIn(await this.config.store.listPartitions(this.runId), await this.config.store.clockNow());
  }

  /** The run's planned items, counted beside its first batches: progress and ETA have a total from now on. */
  plannedItemsCounted(plannedItems: number): void {
    if (this.tracker.plannedItems !== null) return;
    this.tracker.plannedItems = plannedItems;
    this.emit('progress', this.progress());
  }

  /** Aborts `ctx.signal` of batches in flight (used when the host shuts down hard). */
  abortInFlight(): void {
    this.abort.abort();
    this.batchSignals.abortAll();
    // Pause too, so that the lanes stop at this boundary instead of reading the next batch.
    this.requestStop({ kind: 'pause', actor: 'host', reason: 'the host aborted the batches in flight', asExpected: false });
  }

  progress(): ProgressSnapshot {
    const now = this.config.clock.now();
    const runWide = this.watch?.snapshot();
    if (runWide) return { ...runWide, state: this.state, elapsedMs: this.tracker.elapsedMs(now), dryRun: this.config.dryRun };
    return {
      runId: this.runId,
      backfill: this.backfill,
      scope: 'process',
      state: this.state,
      counts: this.tracker.total(),
      batches: this.tracker.batches(),
      plannedItems: this.tracker.plannedItems,
      itemsPerSecond: this.tracker.itemsPerSecond(now),
      etaSeconds: this.tracker.etaSeconds(now),
      elapsedMs: this.tracker.elapsedMs(now),
      partitions: { total: this.partitionTotal, done: this.partitionsDone.size, running: this.partitionsRunning.size },
      dryRun: this.config.dryRun,
    };
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** The execution under a `sluice.run` span (a no-op without an OpenTelemetry SDK). */
  private async execute(): Promise<RunOutcome> {
    const { config } = this;
    const span = tracer.startSpan('sluice.run', {}, context.active());
    setAttributes(span, () => ({
      'sluice.backfill': this.backfill,
      'sluice.run.id': this.runId,
      'sluice.worker': config.worker.id,
      'sluice.dry_run': config.dryRun,
      'sluice.resumed': config.run.batches > 0,
    }));
    this.traceContext = contextWith(span);
    try {
      const outcome = await context.with(this.traceContext, () => this.executeLanes());
      setAttributes(span, () => ({
        'sluice.run.state': outcome.state,
        'sluice.batches': outcome.executionBatches,
        'sluice.items.processed': outcome.executionCounts.processed,
      }));
      if (outcome.state === 'failed') markFailed(span, outcome.reason ?? 'the run failed');
      return outcome;
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  private async executeLanes(): Promise<RunOutcome> {
    const { config } = this;
    const ticker = setInterval(() => this.tick(), config.progressIntervalMs);
    // Lanes at work keep the process alive; a follower has nothing else to (see follow()).
    ticker.unref();
    this.ticker = ticker;
    try {
      if (config.dryPartitions) {
        this.partitionTotal = config.dryPartitions.length;
      } else {
        const partitions = await config.store.listPartitions(this.runId);
        this.partitionTotal = partitions.length;
        for (const p of partitions) if (p.state === 'done') this.partitionsDone.add(p.index);
      }
      this.emit('started', {
        runId: this.runId,
        backfill: this.backfill,
        resumed: config.run.batches > 0,
        plannedItems: config.run.plannedItems,
        dryRun: config.dryRun,
        ...(config.throttle ? { throttle: config.throttle.describe() } : {}),
      });
      await config.throttle?.start();
      this.concurrency = config.throttle?.concurrency() ?? config.options.concurrency;
      this.watchForOrphans();
      for (;;) {
        for (let i = 0; i < this.concurrency; i++) this.startLane();
        await this.allLanesDone();
        const outcome = (await this.finish()) ?? (await this.follow());
        if (outcome) return outcome;
        // A partition came free, the last one settled, or a stop was asked: the lanes look again.
      }
    } catch (error) {
      // Only store failures reach here (lanes contain their own errors): record what we can.
      config.logger.error({ runId: this.runId, err: error }, 'run execution failed');
      return await this.finishWithError(error);
    } finally {
      clearInterval(ticker);
      clearInterval(this.orphanWatch);
      await config.throttle?.close();
      await config.reader.close().catch(() => undefined);
      this.emit('progress', this.progress());
      config.onEnded?.();
    }
  }

  /** A progress event: this process's view, or the whole run read from the store once following. */
  private tick(): void {
    if (!this.watch) {
      this.emit('progress', this.progress());
      return;
    }
    this.watch.refresh().then(
      () => this.emit('progress', this.progress()),
      (error: unknown) =>
        this.config.logger.warn({ runId: this.runId, err: error }, `could not read the run's progress: ${messageOf(error)}; trying again`),
    );
  }

  /**
   * This process has nothing left to claim, but other workers hold partitions: follow the run (its
   * progress read from the store at the progress interval) until it ends or is paused or cancelled
   * elsewhere, which ends this execution with that state. Returns undefined, for the lanes to look
   * again, when a partition comes free (a dead worker's, one handed back), when every partition has
   * settled (the last worker died before recording the end), or when this execution is told to stop.
   */
  private async follow(): Promise<RunOutcome | undefined> {
    // The ticker's readings are all a follower waits on: they must keep the process alive.
    this.ticker?.ref();
    try {
      return await this.followUntilChange();
    } finally {
      this.ticker?.unref();
    }
  }

  private async followUntilChange(): Promise<RunOutcome | undefined> {
    const { config } = this;
    if (!this.watch) {
      this.watch = new RunWatch({
        store: config.store,
        runId: this.runId,
        clock: config.clock,
        self: config.worker.id,
        isOwnerDead: config.isOwnerDead ?? (() => false),
      });
      const watch = this.watch;
      const first = await this.withStoreRetries('read the run to follow it', () => watch.refresh());
      config.logger.info(
        { runId: this.runId, otherWorkers: first.otherWorkers },
        'nothing left to claim here; following the run while other workers finish it',
      );
      this.emit('following', { runId: this.runId, otherWorkers: first.otherWorkers });
      this.emit('progress', this.progress());
      const decided = await this.decide(first);
      if (decided !== 'wait') return decided;
    }
    for (;;) {
      const reading = await this.watch.next(this.stopSignal.signal);
      if (!reading) return undefined;
      const decided = await this.decide(reading);
      if (decided !== 'wait') return decided;
    }
  }

  /** What a follower does after a reading: end with the run's state, look again, or wait for the next. */
  private async decide(reading: RunReading): Promise<RunOutcome | undefined | 'wait'> {
    if (reading.run.state !== 'running') return this.endedElsewhere(reading.run);
    if (reading.claimable || reading.settled || this.stopRequest) return undefined;
    return 'wait';
  }

  /** The run left `running` in another process's hands (finished, failed, paused, cancelled). */
  private async endedElsewhere(run: RunRecord): Promise<RunOutcome> {
    const last = (await this.withStoreRetries('read how the run ended', () => this.config.store.listTransitions(this.runId))).at(-1);
    const actor = last?.to === run.state ? last.actor : 'sluice';
    const reason = (last?.to === run.state ? last.reason : run.reason) ?? `the run is ${run.state}`;
    this.state = run.state;
    this.emit('state', { runId: this.runId, from: 'running', to: run.state, actor, reason });
    return this.outcome(run.state, reason, null, run);
  }

  /** The live workers other than this process holding partitions among these, judged at `now` (the store's clock). */
  private othersIn(partitions: readonly PartitionRecord[], now: number): string[] {
    const { config } = this;
    return liveLeaseOwners(partitions, now, config.isOwnerDead ?? (() => false)).filter((owner) => owner !== config.worker.id);
  }

  /** Lanes run until they find no work; a retune may add lanes or retire the highest-numbered ones. */
  private startLane(): void {
    let id = 0;
    while (this.lanes.has(id)) id++;
    this.trackLane(id, this.lane(id));
  }

  private trackLane(id: number, running: Promise<void>): void {
    // A lane fails only on store trouble it could not ride out: the first such error ends the
    // execution (execute() records it), and no rejection is left unhandled.
    const done = running
      .catch((error: unknown) => {
        this.laneError ??= { error };
        this.requestStop({ kind: 'leave', actor: 'sluice', reason: `a lane failed: ${messageOf(error)}`, asExpected: false });
      })
      .finally(() => {
        this.lanes.delete(id);
        if (this.lanes.size === 0) {
          clearInterval(this.orphanWatch);
          this.lanesIdle?.();
        }
      });
    this.lanes.set(id, done);
  }

  /**
   * Every `orphanPollMs`, claims the partitions of this run whose lease expired (a dead worker's)
   * and works each on a lane of its own, above the run's concurrency: the dead worker's lanes are
   * gone, so the lanes working the run stay as many as before it died. An adopted lane ends with its
   * partition. At most `concurrency` adopted lanes at once, so that one worker never takes more
   * than twice its share; beyond that, orphans wait for a lane (or another worker) as before.
   */
  private watchForOrphans(): void {
    const everyMs = this.config.orphanPollMs;
    if (everyMs === undefined || this.config.dryPartitions) return;
    this.orphanWatch = setInterval(() => void this.adoptOrphans(), everyMs);
    this.orphanWatch.unref();
  }

  private async adoptOrphans(): Promise<void> {
    if (this.lookingForOrphans) return;
    this.lookingForOrphans = true;
    try {
      while (!this.stopRequest && this.lanes.size > 0 && this.adoptedLanes < this.concurrency) {
        const claim = await this.claim({ orphansOnly: true });
        if (!claim || 'blocked' in claim) return;
        if (this.stopRequest || this.lanes.size === 0) {
          // The execution ended while the claim was in flight: hand the partition to whoever looks next.
          await claim.handBack();
          return;
        }
        this.config.logger.info(
          { runId: this.runId, partition: claim.index },
          'adopted a partition whose lease expired (its worker is gone) on an extra lane',
        );
        this.startAdoptedLane(claim);
      }
    } catch (error) {
      // The next look tries again.
      this.config.logger.warn({ runId: this.runId, err: error }, `could not look for orphaned partitions: ${messageOf(error)}`);
    } finally {
      this.lookingForOrphans = false;
    }
  }

  private startAdoptedLane(hold: PartitionHold): void {
    const id = this.nextAdoptedLane--;
    this.adoptedLanes += 1;
    this.trackLane(
      id,
      this.work(hold, id).finally(() => (this.adoptedLanes -= 1)),
    );
  }

  /** Resolves when every lane (including lanes started meanwhile) has ended; rethrows a lane's failure. */
  private async allLanesDone(): Promise<void> {
    if (this.lanes.size > 0) await new Promise<void>((resolve) => (this.lanesIdle = resolve));
    if (this.laneError) throw this.laneError.error;
  }

  /** A lane numbered at or above the current concurrency retires at its next batch boundary. */
  private retired(lane: number): boolean {
    return lane >= this.concurrency;
  }

  private async lane(id: number): Promise<void> {
    while (!this.stopRequest && !this.retired(id)) {
      const claim = await this.withStoreRetries('claim a partition', () => this.claim());
      if (claim && 'blocked' in claim) {
        // A worker with nothing of this run in hand leaves it to those holding its slots (it has
        // other runs to look at); otherwise the lane waits for a slot to free up.
        if (!this.config.waitWhenBlocked && this.partitionsRunning.size === 0) return;
        this.noteBlocked(claim.blocked);
        await this.sleepUnlessStopped(BLOCKED_POLL_MS);
        continue;
      }
      if (claim) {
        this.blockedReason = undefined;
        await this.work(claim, id);
        continue;
      }
      // Nothing left to claim: take half of the largest partition another lane or worker still
      // works, so that everyone finishes together instead of waiting on one straggler.
      if (!(await this.withStoreRetries('split a partition', () => this.splitLargest()))) return;
    }
  }

  /** Retries a store operation through connection trouble (a dropped connection, a restarting server). */
  private withStoreRetries<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return withStoreRetries(this.storeRetries(), what, operation);
  }

  /** Whose run a store retry logs for, the clock it waits on, and the signal that cuts its waits short. */
  private storeRetries(): StoreRetryContext {
    return { runId: this.runId, clock: this.config.clock, logger: this.config.logger, signal: this.abort.signal };
  }

  private async claim(scope: ClaimScope = {}): Promise<PartitionHold | { blocked: string } | undefined> {
    const { config } = this;
    if (config.dryPartitions) return this.dryQueue.shift();
    let lease: PartitionLease | undefined;
    // A gradual rollout's ramp limits the run's live leases over every worker, as the store counts them.
    if ((config.limits && hasLimits(config.limits)) || config.options.gradual) {
      const result = await config.store.claimPartitionWithin(
        this.runId,
        config.worker.id,
        config.leaseMs,
        config.limits ?? { keys: [] },
        scope,
      );
      if (result.kind === 'blocked') return { blocked: result.reason };
      lease = result.kind === 'claimed' ? result.lease : undefined;
    } else {
      lease = await config.store.claimPartition(this.runId, config.worker.id, config.leaseMs, scope);
    }
    if (!lease) return undefined;
    const claimed = lease;
    const partition = (await config.store.listPartitions(this.runId)).find((p) => p.index === claimed.index);
    if (!partition) throw new Error(`partition ${lease.index} of run ${this.runId} vanished after it was claimed`);
    return new LeasedPartition(this.leasedPartitionContext(), lease, {
      spec: specOf(partition),
      cursor: partition.cursor,
      batches: partition.batches,
    });
  }

  /** What the lane's hold on a leased partition needs of this execution. */
  private leasedPartitionContext(): LeasedPartitionContext {
    const { config } = this;
    return {
      ...this.storeRetries(),
      store: config.store,
      leaseMs: config.leaseMs,
      checkpointEvery: config.definition.checkpointEvery,
      onControl: (control) => this.requestStop({ kind: control.kind, actor: control.actor, reason: control.reason, asExpected: false }),
    };
  }

  /** Logs (once per reason) why this run waits for a concurrency slot. */
  private noteBlocked(reason: string): void {
    if (this.blockedReason === reason) return;
    this.blockedReason = reason;
    this.config.logger.info({ runId: this.runId, reason }, `waiting for a concurrency slot: ${reason}`);
    this.emit('waiting', { runId: this.runId, reason });
  }

  /**
   * Works a partition the lane holds, batch by batch, until it is done, the lane lets go of it (a
   * stop, a retired lane, a spent budget, a ramp stepping back) or a batch fails.
   */
  private async work(hold: PartitionHold, lane: number): Promise<void> {
    const { config } = this;
    this.partitionsRunning.add(hold.index);
    /** The lane's batches in flight (one, or a window of them): a lost lease aborts their signals. */
    const inFlight = new Set<AbortController>();
    // The checkpoint renews the lease; the heartbeat covers batches slower than a lease, and looks
    // for a pause or cancel asked elsewhere, which a long batch would otherwise see only at its end.
    const heartbeat = hold.keepAlive(inFlight, () => this.lookForControl());
    const ahead = new ReadAhead(config.reader, config.filter);
    const rampAtClaim = this.rampLanes;
    // While a batch waits to retry some items, the lane goes on with the next ones; they commit in order.
    const window = new CommitWindow<LaneBatch>(this.windowSize());
    /** Ends the lane's batches still in flight once one failed (they cannot commit any more) and waits for them. */
    const abandon = async () => {
      for (const batch of inFlight)
        batch.abort(new BatchAbortedError(this.runId, hold.index, 'a batch before it in its lane did not commit'));
      await window.abandon();
    };
    try {
      /** Where the lane's next read starts: past its batches in flight, ahead of the last checkpoint. */
      let cursor = hold.cursor;
      const storeFailures = { inARow: 0 };
      let lastFreedAt = Number.NEGATIVE_INFINITY;
      for (;;) {
        heartbeat.throwIfLost();
        const limit = await this.nextBatchLimit(hold, lane, rampAtClaim);
        const startedAt = config.clock.now();
        let read: SourceBatch<unknown> | undefined;
        if (limit > 0) {
          read = await this.startBatch(hold, window, inFlight, ahead, { cursor, limit, startedAt, lastFreedAt });
          cursor = read.cursor;
          lastFreedAt = config.clock.now();
        }
        const followed = await this.followCommits(hold, window, read, storeFailures);
        if (followed === 'ended') return;
        if (followed !== 'caught-up') {
          await abandon();
          cursor = await hold.resumeFromStoredCheckpoint(followed.storeTrouble, storeFailures.inARow);
          continue;
        }
        if (!read) {
          await hold.release('pending');
          return;
        }
        await this.betweenBatches(startedAt, lastFreedAt);
      }
    } catch (error) {
      // Nothing of the lane may commit past a failure, nor outlive the partition's release.
      await abandon();
      await this.letGoAfter(hold, error);
    } finally {
      heartbeat.stop();
      await abandon();
      await ahead.settle();
      this.partitionsRunning.delete(hold.index);
    }
  }

  /**
   * The items the lane's next batch may read; 0 when the lane is to let go of the partition once
   * its batches in flight have committed (the execution is told to stop, the lane retired,
   * `maxBatches` or a canary's budget is spent, or the ramp stepped back since the claim).
   */
  private async nextBatchLimit(hold: PartitionHold, lane: number, rampAtClaim: number | null): Promise<number> {
    // The ramp stepped back: every lane of every worker hands its partition back and claims
    // again, within the ramp (the store lets only as many through as it allows now).
    const rampLowered = rampAtClaim !== null && this.rampLanes !== null && this.rampLanes < rampAtClaim;
    const mayGo = !rampLowered && !this.stopRequest && !this.retired(lane) && (await this.gate());
    return mayGo && !this.stopRequest && !this.retired(lane) && this.takeBatchSlot() ? await this.canaryLimit(hold, this.batchSize()) : 0;
  }

  /**
   * Follows the checkpoints the lane's batches wrote so far, in order (see `committed`): waits for
   * the oldest when the window is full, and for all of them at the partition's end or when the lane
   * lets go (no `read`; a batch waiting to retry commits after its wait, unless a pause or cancel
   * aborted it). 'ended': the partition is done. `storeTrouble`: a commit failed on connection
   * trouble (or found the checkpoint moved), which the lane may ride out from the stored checkpoint
   * (`storeFailures` counts such failures in a row). Any other failure of a batch is thrown.
   */
  private async followCommits(
    hold: PartitionHold,
    window: CommitWindow<LaneBatch>,
    read: SourceBatch<unknown> | undefined,
    storeFailures: { inARow: number },
  ): Promise<'caught-up' | 'ended' | { storeTrouble: unknown }> {
    while (window.count > 0 && (!read || read.done || window.full || window.oldestSettled)) {
      let batch: LaneBatch;
      try {
        batch = await window.takeOldest();
        storeFailures.inARow = 0;
      } catch (error) {
        const moved = error instanceof CheckpointMovedError;
        if (!(moved || isTransientStoreError(error)) || ++storeFailures.inARow >= STORE_RETRY_ATTEMPTS) throw error;
        return { storeTrouble: error };
      }
      if (await this.committed(hold, batch)) return 'ended';
    }
    return 'caught-up';
  }

  /** Between two batches of a lane: the throttle's pace, and now and then a turn for the event loop. */
  private async betweenBatches(startedAt: number, lastFreedAt: number): Promise<void> {
    const { throttle } = this.config;
    if (throttle?.paces()) await throttle.pace((ms) => this.sleepUnlessStopped(ms), lastFreedAt - startedAt);
    // Synchronous drivers (better-sqlite3) resolve every await at once: without this the loop
    // would never let timers, signals or the host's own requests run until the run ends.
    // Yielding every ~10 ms keeps the host responsive at a negligible cost per batch.
    if (lastFreedAt - this.lastYieldAt >= YIELD_EVERY_MS) {
      await yieldToEventLoop();
      this.lastYieldAt = this.config.clock.now();
    }
  }

  /**
   * Lets go of the partition after `error` ended the lane's work on it. Rethrows a store that
   * cannot write, which ends the whole execution.
   */
  private async letGoAfter(hold: PartitionHold, error: unknown): Promise<void> {
    const { config } = this;
    if (error instanceof LeaseLostError) {
      // Another worker holds the partition now: there is nothing to hand back.
      config.logger.warn({ runId: this.runId, partition: hold.index }, error.message);
      return;
    }
    if (error instanceof BatchAbortedError) {
      config.logger.warn({ runId: this.runId, partition: hold.index }, error.message);
      await hold.release('pending').catch(() => undefined);
      return;
    }
    if (isStoreWriteFailure(error)) {
      // The store cannot write (a full disk): the partition is not at fault, so it goes back to
      // pending (if the store still takes that) for a resume or a retry once there is room, and
      // the whole run stops here: every other lane would fail the same way.
      await hold.handBack().catch(() => undefined);
      throw error;
    }
    const message = messageOf(error);
    config.logger.error({ runId: this.runId, partition: hold.index, errorClass: errorClassOf(error), err: error }, 'partition failed');
    this.errors.push({ partition: hold.index, message });
    await hold.release('failed', message).catch(() => undefined);
  }

  /**
   * Reads the lane's next batch and starts it in the lane's window; returns its read once the batch
   * has committed, or freed the lane (it waits to retry some items, or for the batches before it).
   */
  private async startBatch(
    hold: PartitionHold,
    window: CommitWindow<LaneBatch>,
    inFlight: Set<AbortController>,
    ahead: ReadAhead,
    next: { cursor: Cursor; limit: number; startedAt: number; lastFreedAt: number },
  ): Promise<SourceBatch<unknown>> {
    const { cursor, limit, startedAt } = next;
    // Its signal exists before the read: a pause during the read keeps `process` from starting.
    const batchAbort = this.batchSignals.started(hold.index);
    inFlight.add(batchAbort);
    const ended = () => {
      this.batchSignals.ended(batchAbort);
      inFlight.delete(batchAbort);
    };
    let read: SourceBatch<unknown>;
    try {
      read = (await ahead.take(hold.spec, cursor, limit, startedAt - next.lastFreedAt)) ?? (await this.read(hold, cursor, limit));
    } catch (error) {
      ended();
      throw error;
    }
    if (!read.done && (this.config.throttle?.allowsReadAhead() ?? true)) ahead.start(hold.spec, read.cursor, limit);
    const number = hold.batches + window.count + 1;
    await window.start(async (turn) => {
      try {
        const result = await this.runner.run({
          partition: hold.index,
          lease: hold.lease,
          previousCursor: cursor,
          read,
          startedAtMs: startedAt,
          canary: this.canary(),
          signal: batchAbort.signal,
          batch: number,
          traceParent: this.traceContext,
          coalesce: hold.coalesce,
          ...(window.size > 1 ? { turn } : {}),
        });
        return { result, read, startedAt, finishedAt: this.config.clock.now() };
      } finally {
        ended();
      }
    });
    return read;
  }

  /**
   * Batches a lane keeps in flight: one for transactional batches (a batch waiting to retry holds
   * its place with its transaction rolled back, to run again whole) and for a canary's (each
   * checkpoint settles the partition's one claim on the budget); otherwise a window, so that a
   * batch waiting to retry some items does not hold the lane.
   */
  private windowSize(): number {
    return this.config.definition.delivery === 'transactional' || this.canary() ? 1 : BATCHES_IN_FLIGHT_PER_LANE;
  }

  /**
   * Follows one batch's checkpoint, in the lane's order: counts, events, and what the checkpoint
   * saw (a control request, a split, a retune, a ramp). True when it ended the partition.
   */
  private async committed(hold: PartitionHold, { result, read, startedAt, finishedAt }: LaneBatch): Promise<boolean> {
    const { config } = this;
    hold.batches += 1;
    // Another lane may have split this partition: read no further than its new end.
    if (result.upper !== undefined) hold.spec = { ...hold.spec, upper: result.upper };
    this.tracker.add(result.delta, finishedAt);
    if (config.throttle?.paces()) {
      await config.throttle.afterBatch(read.items.length + read.malformed.length, finishedAt - startedAt, result.delta.quarantined);
      this.adjustLanes();
    }
    this.emit('batch', {
      runId: this.runId,
      partition: hold.index,
      size: read.items.length + read.malformed.length,
      durationMs: finishedAt - startedAt,
      delta: result.delta,
    });
    if (result.control)
      this.requestStop({ kind: result.control.kind, actor: result.control.actor, reason: result.control.reason, asExpected: false });
    // Another worker already paused, cancelled or ended the run: stop here without a transition of our own.
    if (result.runState && result.runState !== 'running')
      this.requestStop({ kind: 'leave', actor: 'sluice', reason: `the run is ${result.runState}`, asExpected: false });
    if (result.tuning !== undefined && result.tuning !== this.tuning) await this.applyTuning(result.tuning);
    if (result.rampLanes !== undefined) this.followRamp(result.rampLanes);
    this.guardFailureRatio();
    if (!read.done) return false;
    this.partitionsDone.add(hold.index);
    return true;
  }

  /** Splits the largest partition for an idle lane (never in a dry run, whose partitions live in memory). */
  private async splitLargest(): Promise<boolean> {
    if (!this.splitter) return false;
    return this.splitter.splitLargest({ batchSize: this.batchSize(), windowSize: this.windowSize() });
  }

  /** Reads a batch, retrying transient source errors with the run's backoff policy. */
  private read(hold: PartitionHold, cursor: Cursor, limit: number): Promise<SourceBatch<unknown>> {
    const { config } = this;
    const ctx = { ...this.storeRetries(), reader: config.reader, filter: config.filter, retry: config.options.retry };
    return readWithRetries(ctx, hold, cursor, limit);
  }

  /** Lets a lane start a batch unless `maxBatches` (of this execution) is spent. */
  private takeBatchSlot(): boolean {
    const { maxBatches } = this.config.options;
    if (maxBatches !== undefined && this.batchesStarted >= maxBatches) {
      this.requestStop({
        kind: 'pause',
        actor: this.config.actor,
        reason: `maxBatches reached: stopped after ${maxBatches} batch${maxBatches === 1 ? '' : 'es'} (resumable)`,
        asExpected: true,
      });
      return false;
    }
    this.batchesStarted += 1;
    return true;
  }

  /** The run has a canary: its batches claim their items from the budget the store keeps for every worker. */
  private canary(): boolean {
    return (this.config.run.canary ?? null) !== null && !this.config.dryRun;
  }

  /**
   * The items the lane's next batch may read: `want`, or what a canary's budget grants it (0: stop).
   * With nothing granted while batches elsewhere still hold claims, the lane waits for them: what
   * they do not use (a short last batch, items the ledger skips) comes back. With none in flight,
   * the budget is spent, exactly: the run pauses.
   */
  private async canaryLimit(hold: PartitionHold, want: number): Promise<number> {
    if (!this.canary()) return want;
    for (;;) {
      const { granted, inFlight } = await this.withStoreRetries('claim items of the canary', () => hold.claimCanaryItems(want));
      if (granted > 0) return granted;
      if (inFlight === 0) {
        this.requestStop({
          kind: 'pause',
          actor: this.config.actor,
          reason: canaryDoneReason(this.config.run.canary!.items),
          asExpected: true,
        });
        return 0;
      }
      await this.sleepUnlessStopped(CANARY_POLL_MS);
      if (this.stopRequest) return 0;
    }
  }

  private guardFailureRatio(): void {
    const counts = this.tracker.thisExecution();
    const limit = this.config.options.maxFailureRatio;
    if (counts.received < FAILURE_RATIO_MIN_ITEMS || failureRatio(counts) <= limit) return;
    const ratio = failureRatio(counts);
    this.requestStop({
      kind: 'pause',
      actor: 'sluice',
      reason: `failure ratio ${(ratio * 100).toFixed(1)} % exceeds maxFailureRatio ${(limit * 100).toFixed(1)} % (${counts.quarantined} of ${counts.received} items quarantined); fix the cause, then resume (see quarantine list)`,
      asExpected: false,
    });
  }

  // ---- throttling ------------------------------------------------------------------------------

  private batchSize(): number {
    return this.config.throttle?.batchSize() ?? this.config.options.batchSize;
  }

  /** Waits for the throttle to let a batch start; false when the execution was told to stop meanwhile. */
  private async gate(): Promise<boolean> {
    const throttle = this.config.throttle;
    if (!throttle) return true;
    return throttle.gate({
      stopped: () => this.stopRequest !== null,
      sleep: (ms) => this.sleepUnlessStopped(ms),
      // No checkpoints happen while paused: look at the run for requests made elsewhere.
      poll: async () => {
        const run = await this.config.store.getRun(this.runId).catch(() => undefined);
        if (run) await this.followRun(run);
      },
    });
  }

  /** Reloads the run's options after a live retune and applies them to this execution. */
  private async applyTuning(version: number, known?: RunRecord): Promise<void> {
    this.tuning = version;
    const run = known ?? (await this.config.store.getRun(this.runId));
    if (!run || !this.config.throttle) return;
    await this.config.throttle.retune(knobsOf(run.options), 'retuned');
    this.adjustLanes();
  }

  /** The run's ramp moved (a step by any worker, seen at a checkpoint): this execution's lanes follow. */
  private followRamp(lanes: number | null): void {
    if (lanes === this.rampLanes || !this.config.throttle) return;
    this.rampLanes = lanes;
    this.config.throttle.followRamp(lanes);
    this.adjustLanes();
  }

  /** Starts lanes up to the throttle's concurrency; lanes above it retire at their next batch. */
  private adjustLanes(): void {
    const concurrency = this.config.throttle?.concurrency() ?? this.concurrency;
    if (concurrency === this.concurrency) return;
    const before = this.concurrency;
    this.concurrency = concurrency;
    for (let id = before; id < concurrency; id++) if (!this.lanes.has(id) && !this.stopRequest) this.startLane();
  }

  private sleepUnlessStopped(ms: number): Promise<void> {
    return this.config.clock.sleep(ms, this.stopSignal.signal);
  }

  /**
   * Reads the run for a pause or cancel asked in another process (the CLI, the API, another
   * worker), from a lane's heartbeat while a batch is in flight: without it a batch slower than a
   * lease would learn of the request only at its checkpoint, and its signal would fire too late.
   */
  /**
   * Looks at the run between checkpoints (a heartbeat with batches in flight): a batch waiting on a
   * long `Retry-After` holds back every checkpoint of its lane, so a pause, a cancel or a retune asked
   * meanwhile would otherwise wait for it.
   */
  private lookForControl(): void {
    if (this.stopRequest) return;
    this.config.store
      .getRun(this.runId)
      .then((run) => (run ? this.followRun(run) : undefined))
      // The next heartbeat, or the checkpoint, looks again.
      .catch((error: unknown) =>
        this.config.logger.debug({ runId: this.runId, err: error }, 'could not read the run for a pause, cancel or retune'),
      );
  }

  /** Follows what the run holds, read outside a checkpoint: a control request, its end elsewhere, a retune, the ramp. */
  private async followRun(run: RunRecord): Promise<void> {
    if (run.control) this.requestStop({ kind: run.control.kind, actor: run.control.actor, reason: run.control.reason, asExpected: false });
    else if (run.state !== 'running')
      this.requestStop({ kind: 'leave', actor: 'sluice', reason: `the run is ${run.state}`, asExpected: false });
    if (run.tuning !== this.tuning) await this.applyTuning(run.tuning, run);
    this.followRamp(run.rampLanes);
  }

  private requestStop(request: StopRequest): void {
    // The first request wins, except that a cancel overrides a pause or a leave.
    if (this.stopRequest && !(request.kind === 'cancel' && this.stopRequest.kind !== 'cancel')) return;
    this.stopRequest = request;
    this.stopSignal.abort();
    if (abortsBatches(request)) this.batchSignals.abortAll(stopPhrase(request));
    // A stop the caller asked for up front (maxBatches, a canary's items, a worker leaving) is no
    // news to it: the run's state event says where it ended. Stops from elsewhere are worth a line.
    const level = request.asExpected ? 'debug' : 'info';
    this.config.logger[level](
      { runId: this.runId, kind: request.kind, actor: request.actor, reason: request.reason },
      abortsBatches(request) && this.batchSignals.size > 0
        ? 'stop requested; aborting the signals of the batches in flight'
        : 'stop requested; finishing batches in flight',
    );
  }

  // ---- the end --------------------------------------------------------------------------------

  /**
   * Ends the execution when its lanes are done: records the run's end when this process may, or
   * says why the run goes on. Undefined when other workers hold the remaining partitions and this
   * execution follows the run.
   */
  private async finish(): Promise<RunOutcome | undefined> {
    const { config } = this;
    let stop = this.stopRequest;
    if (config.dryRun) {
      const state: RunState =
        this.errors.length > 0 ? 'failed' : stop?.kind === 'cancel' ? 'cancelled' : stop && !stop.asExpected ? 'paused' : 'succeeded';
      const reason = this.errors[0]?.message ?? stop?.reason ?? 'dry run: nothing was written';
      return this.outcome(state, reason, stop);
    }
    const [partitions, storeNow] = await Promise.all([config.store.listPartitions(this.runId), config.store.clockNow()]);
    if (stop?.kind === 'withdraw') {
      // Interrupted: this process's partitions are back to pending. Others working the run go on
      // with it (and take those over); alone, this process pauses the run as it always has.
      const others = this.othersIn(partitions, storeNow);
      stop =
        others.length > 0
          ? {
              ...stop,
              kind: 'leave',
              reason: `${stop.reason}: this process stopped and handed its partitions back; ${workersPhrase(others.length)} go on with the run`,
            }
          : { ...stop, kind: 'pause' };
    }
    const allDone = partitions.every((p) => p.state === 'done');
    const failed = partitions.filter((p) => p.state === 'failed');
    let target: { to: RunState; actor: string; reason: string } | undefined;
    if (allDone) {
      // The run's counts, not this process's: other workers may have done most of it.
      const c = partitions.reduce((sum, p) => addCounts(sum, p.counts), zeroCounts());
      target = {
        to: 'succeeded',
        actor: 'sluice',
        reason: `all partitions done: ${c.processed} processed, ${c.skipped} skipped, ${c.quarantined} quarantined`,
      };
    } else if (stop?.kind === 'leave') {
      const now = await config.store.getRun(this.runId);
      // Paused, cancelled or ended in another process (a lane learnt it from its checkpoint): say so
      // as a follower does, with the actor and reason of that transition, not "the run is paused".
      if (now && now.state !== 'running') return this.endedElsewhere(now);
      return this.outcome(now?.state ?? 'running', stop.reason, stop, now, this.othersIn(partitions, storeNow));
    } else if (stop?.kind === 'cancel') {
      target = { to: 'cancelled', actor: stop.actor, reason: stop.reason };
    } else if (failed.length > 0 && !partitions.some((p) => p.state === 'running' && p.leaseOwner !== config.worker.id)) {
      const first = this.errors[0]?.message ?? failed[0]!.error ?? 'unknown error';
      target = { to: 'failed', actor: 'sluice', reason: `${failed.length} of ${partitions.length} partitions failed: ${first}` };
    } else if (stop) {
      target = { to: 'paused', actor: stop.actor, reason: stop.reason };
    }
    if (!target) {
      // Other workers hold the remaining partitions: follow the run, or leave it to them.
      if (config.follow) return undefined;
      return this.outcome(
        'running',
        'remaining partitions are held by other workers',
        stop,
        await config.store.getRun(this.runId),
        this.othersIn(partitions, storeNow),
      );
    }
    const record = await config.store.transitionRun(this.runId, ['running'], target.to, target.actor, target.reason);
    const final = record ?? (await config.store.getRun(this.runId));
    const state = final?.state ?? target.to;
    this.state = state;
    this.emit('state', { runId: this.runId, from: 'running', to: state, actor: target.actor, reason: target.reason });
    return this.outcome(state, final?.reason ?? target.reason, stop, final);
  }

  /**
   * Records the failure the caller is about to report. The store may refuse that write too (the
   * disk that failed the batch is still full): then the outcome says so, instead of letting the
   * operator believe the store agrees. The run stays `running` there, and shows as stalled once
   * this process is gone; a resume goes on from its last checkpoint.
   */
  private async finishWithError(error: unknown): Promise<RunOutcome> {
    const reason = `execution failed: ${messageOf(error)}`;
    let record: RunRecord | undefined;
    if (!this.config.dryRun) {
      try {
        record = await this.config.store.transitionRun(this.runId, ['running'], 'failed', 'sluice', reason);
      } catch (recordError) {
        this.config.logger.error({ runId: this.runId, err: recordError }, 'could not record the failure in the store');
        const unrecorded = `${reason}; the store could not record this failure either (${messageOf(recordError)}): it still shows the run as running, stalled once this process is gone; free the store's disk, then resume the run from its last checkpoint`;
        return this.outcome('failed', unrecorded, this.stopRequest);
      }
    }
    return this.outcome('failed', reason, this.stopRequest, record);
  }

  private async outcome(
    state: RunState,
    reason: string | null,
    stop: StopRequest | null,
    record?: RunRecord,
    otherWorkers?: string[],
  ): Promise<RunOutcome> {
    this.state = state;
    const now = this.config.clock.now();
    const durationMs = now - this.startedAt;
    return {
      runId: this.runId,
      backfill: this.backfill,
      state,
      reason,
      counts: record?.counts ?? this.tracker.total(),
      batches: record?.batches ?? this.tracker.batches(),
      durationMs,
      executionCounts: this.tracker.thisExecution(),
      executionBatches: this.tracker.sessionBatchCount(),
      activeMs: this.config.dryRun ? durationMs : await this.activeMs(now),
      dryRun: this.config.dryRun,
      pausedAsAsked: state === 'paused' && stop?.asExpected === true,
      record,
      ...(state === 'running' && otherWorkers ? { otherWorkers } : {}),
    };
  }

  /** The run's time in state `running` over all its executions, from its transition log. */
  private async activeMs(now: number): Promise<number | null> {
    try {
      return activeMs(await this.config.store.listTransitions(this.runId), now);
    } catch (error) {
      // The end of a run whose store fails (finishWithError) still reports, without this number.
      this.config.logger.warn({ runId: this.runId, err: error }, "could not read the run's transitions for its active time");
      return null;
    }
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** "1 other worker", "3 other workers". */
function workersPhrase(n: number): string {
  return `${n} other worker${n === 1 ? '' : 's'}`;
}
