import { EventEmitter } from 'node:events';
import { activeMs } from './active-time.js';
import { BatchRunner } from './batch-runner.js';
import type { Clock } from './clock.js';
import { addCounts, type Counts, failureRatio, zeroCounts } from './counts.js';
import type { Cursor } from './cursor.js';
import type { BackfillDefinition } from './definition.js';
import { BatchAbortedError, CheckpointMovedError, ExitCode, errorClassOf, isSluiceError, isTransientStoreError, LeaseLostError, messageOf } from './errors.js';
import type { Logger } from './logger.js';
import { ProgressTracker } from './progress-tracker.js';
import { ReadAhead } from './read-ahead.js';
import { backoffDelay } from './retry.js';
import { hasLimits } from './concurrency.js';
import { knobsOf } from './throttle/knobs.js';
import type { Throttle } from './throttle/throttle.js';
import type { ConcurrencyLimits, PartitionLease, PartitionRecord, RunOptions, RunParams, RunRecord, WorkerIdentity } from './run.js';
import type { ProgressSnapshot, RunEvents, RunHandle, RunOutcome } from './run-handle.js';
import type { RunState } from './run-state.js';
import type { PartitionSpec, SourceBatch, SourceFilter, SourceReader } from './source.js';
import type { Store } from './store.js';

/** The failure-ratio guard waits for this many items before it judges a ratio. */
export const FAILURE_RATIO_MIN_ITEMS = 100;
/**
 * Attempts at a store operation through connection trouble before the partition fails: with
 * backoff from 250 ms to 5 s, 15-28 s of patience, enough for a database restart or a failover.
 */
const STORE_RETRY_ATTEMPTS = 10;
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
  run: { id: string; backfill: string; params: RunParams; counts: Counts; batches: number; plannedItems: number | null; tuning?: number };
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
}

/** How often a lane blocked by a concurrency limit looks again. */
const BLOCKED_POLL_MS = 500;

interface Claim {
  index: number;
  spec: PartitionSpec;
  cursor: Cursor;
  lease: PartitionLease | undefined;
}

interface StopRequest {
  /** `leave`: this process stops working the run and hands its partitions back; the run goes on. */
  kind: 'pause' | 'cancel' | 'leave';
  actor: string;
  reason: string;
  /** The caller asked for this stop up front (maxBatches, a canary): not an interruption. */
  asExpected: boolean;
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
  private readonly abort = new AbortController();
  private stopRequest: StopRequest | null = null;
  private batchesStarted = 0;
  /** Items the batches started in this execution may read (the canary's budget). */
  private itemsReserved = 0;
  /** The size each lane's current batch may read (a canary's last batch is smaller). */
  private readonly laneLimit = new Map<number, number>();
  private state: RunState = 'running';
  private readonly errors: Array<{ partition: number; message: string }> = [];
  private readonly partitionsDone = new Set<number>();
  private readonly partitionsRunning = new Set<number>();
  private partitionTotal = 0;
  private readonly dryQueue: Claim[] = [];
  private readonly startedAt: number;
  private lastYieldAt = 0;
  private missedSplits = 0;
  private blockedReason: string | undefined;
  private readonly lanes = new Map<number, Promise<void>>();
  private laneError: { error: unknown } | undefined;
  private lanesIdle: (() => void) | undefined;
  private concurrency = 1;
  private tuning: number;
  /** Aborted by the first stop request: wakes lanes sleeping in a throttle wait. */
  private readonly stopSignal = new AbortController();

  constructor(private readonly config: ExecutionConfig) {
    super();
    this.runId = config.run.id;
    this.backfill = config.run.backfill;
    this.startedAt = config.clock.now();
    this.tuning = config.run.tuning ?? 0;
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
      signal: this.abort.signal,
      onRetry: (info) => {
        // `event`: this record mirrors the `retry` event; a host that prints the events drops it.
        config.logger.warn({ event: 'retry', runId: this.runId, ...info }, 'batch failed; retrying after backoff');
        this.emit('retry', { runId: this.runId, ...info });
      },
      onQuarantine: (info) => {
        config.logger.warn({ event: 'quarantined', runId: this.runId, ...info }, config.dryRun ? 'items would be quarantined (dry run: nothing is written)' : 'items quarantined');
        this.emit('quarantined', { runId: this.runId, ...info });
      },
    });
    config.throttle?.onDecision((d) => this.emit('throttle', { runId: this.runId, kind: d.kind, reason: d.reason }));
    if (config.dryPartitions) {
      config.dryPartitions.forEach((spec, index) => this.dryQueue.push({ index, spec, cursor: null, lease: undefined }));
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

  /** The run's planned items, counted beside its first batches: progress and ETA have a total from now on. */
  plannedItemsCounted(plannedItems: number): void {
    if (this.tracker.plannedItems !== null) return;
    this.tracker.plannedItems = plannedItems;
    this.emit('progress', this.progress());
  }

  /** Aborts `ctx.signal` of batches in flight (used when the host shuts down hard). */
  abortInFlight(): void {
    // Pause first, so that the lanes stop at this boundary instead of reading the next batch.
    this.requestStop({ kind: 'pause', actor: 'host', reason: 'the host aborted the batches in flight', asExpected: false });
    this.abort.abort();
  }

  progress(): ProgressSnapshot {
    const now = this.config.clock.now();
    return {
      runId: this.runId,
      backfill: this.backfill,
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

  private async execute(): Promise<RunOutcome> {
    const { config } = this;
    const ticker = setInterval(() => this.emit('progress', this.progress()), config.progressIntervalMs);
    ticker.unref();
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
      for (let i = 0; i < this.concurrency; i++) this.startLane();
      await this.allLanesDone();
      return await this.finish();
    } catch (error) {
      // Only store failures reach here (lanes contain their own errors): record what we can.
      config.logger.error({ runId: this.runId, err: error }, 'run execution failed');
      return await this.finishWithError(error);
    } finally {
      clearInterval(ticker);
      await config.throttle?.close();
      await config.reader.close().catch(() => undefined);
      this.emit('progress', this.progress());
      config.onEnded?.();
    }
  }

  /** Lanes run until they find no work; a retune may add lanes or retire the highest-numbered ones. */
  private startLane(): void {
    let id = 0;
    while (this.lanes.has(id)) id++;
    // A lane fails only on store trouble it could not ride out: the first such error ends the
    // execution (execute() records it), and no rejection is left unhandled.
    const done = this.lane(id)
      .catch((error: unknown) => {
        this.laneError ??= { error };
        this.requestStop({ kind: 'leave', actor: 'sluice', reason: `a lane failed: ${messageOf(error)}`, asExpected: false });
      })
      .finally(() => {
        this.lanes.delete(id);
        if (this.lanes.size === 0) this.lanesIdle?.();
      });
    this.lanes.set(id, done);
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
  private async withStoreRetries<T>(what: string, operation: () => Promise<T>): Promise<T> {
    const { config } = this;
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (!isTransientStoreError(error) || attempt >= STORE_RETRY_ATTEMPTS) throw error;
        const delayMs = backoffDelay({ attempts: STORE_RETRY_ATTEMPTS, baseDelayMs: 250, maxDelayMs: 5000 }, attempt, config.clock.random);
        config.logger.warn({ runId: this.runId, attempt, delayMs, err: error }, `could not ${what}: the store's connection failed; retrying`);
        await config.clock.sleep(delayMs, this.abort.signal);
      }
    }
  }

  private async claim(): Promise<Claim | { blocked: string } | undefined> {
    const { config } = this;
    if (config.dryPartitions) return this.dryQueue.shift();
    let lease: PartitionLease | undefined;
    if (config.limits && hasLimits(config.limits)) {
      const result = await config.store.claimPartitionWithin(this.runId, config.worker.id, config.leaseMs, config.limits);
      if (result.kind === 'blocked') return { blocked: result.reason };
      lease = result.kind === 'claimed' ? result.lease : undefined;
    } else {
      lease = await config.store.claimPartition(this.runId, config.worker.id, config.leaseMs);
    }
    if (!lease) return undefined;
    const claimed = lease;
    const partition = (await config.store.listPartitions(this.runId)).find((p) => p.index === claimed.index);
    if (!partition) throw new Error(`partition ${lease.index} of run ${this.runId} vanished after it was claimed`);
    return { index: lease.index, spec: specOf(partition), cursor: partition.cursor, lease };
  }

  /** Logs (once per reason) why this run waits for a concurrency slot. */
  private noteBlocked(reason: string): void {
    if (this.blockedReason === reason) return;
    this.blockedReason = reason;
    this.config.logger.info({ runId: this.runId, reason }, `waiting for a concurrency slot: ${reason}`);
    this.emit('waiting', { runId: this.runId, reason });
  }

  private async work(claim: Claim, lane: number): Promise<void> {
    const { config } = this;
    this.partitionsRunning.add(claim.index);
    let leaseLost = false;
    // The checkpoint renews the lease; the heartbeat covers batches slower than a lease.
    const heartbeat = claim.lease
      ? setInterval(() => {
          config.store.renewLease(claim.lease!, config.leaseMs).then(
            (ok) => { if (!ok) leaseLost = true; },
            (error: unknown) => config.logger.warn({ runId: this.runId, partition: claim.index, err: error }, 'lease renewal failed'),
          );
        }, Math.max(100, Math.floor(config.leaseMs / 3)))
      : undefined;
    heartbeat?.unref();
    const ahead = new ReadAhead(config.reader, config.filter);
    try {
      let cursor = claim.cursor;
      let storeFailures = 0;
      let lastFinishedAt = Number.NEGATIVE_INFINITY;
      for (;;) {
        if (leaseLost) throw new LeaseLostError(this.runId, claim.index, claim.lease?.fence ?? 0);
        const mayGo = !this.stopRequest && !this.retired(lane) && (await this.gate());
        if (!mayGo || this.stopRequest || this.retired(lane) || !this.takeBatchSlot(lane)) {
          if (claim.lease) await config.store.releasePartition(claim.lease, 'pending');
          return;
        }
        const startedAt = config.clock.now();
        const limit = this.laneLimit.get(lane) ?? this.batchSize();
        const read = (await ahead.take(claim.spec, cursor, limit, startedAt - lastFinishedAt)) ?? (await this.read(claim, cursor, limit));
        if (!read.done && (config.throttle?.allowsReadAhead() ?? true)) ahead.start(claim.spec, read.cursor, limit);
        let result: Awaited<ReturnType<BatchRunner['run']>>;
        try {
          result = await this.runner.run({ partition: claim.index, lease: claim.lease, previousCursor: cursor, read, startedAtMs: startedAt });
          storeFailures = 0;
        } catch (error) {
          const moved = error instanceof CheckpointMovedError;
          if (error instanceof LeaseLostError || !claim.lease || (!moved && !isTransientStoreError(error)) || ++storeFailures >= STORE_RETRY_ATTEMPTS) throw error;
          // The connection failed around the commit: whether it landed or not, the store knows.
          // Carry on from the checkpoint it holds (the ledger skips what a landed commit delivered).
          const delayMs = backoffDelay({ attempts: STORE_RETRY_ATTEMPTS, baseDelayMs: 250, maxDelayMs: 5000 }, storeFailures, config.clock.random);
          config.logger.warn({ runId: this.runId, partition: claim.index, delayMs, err: error }, 'the store connection failed during a batch; resuming from the stored checkpoint');
          await config.clock.sleep(delayMs, this.abort.signal);
          const stored = await this.withStoreRetries('reload the checkpoint', async () => (await config.store.listPartitions(this.runId)).find((p) => p.index === claim.index));
          if (!stored || stored.fence !== claim.lease.fence) throw new LeaseLostError(this.runId, claim.index, claim.lease.fence);
          cursor = stored.cursor;
          claim.spec = { ...claim.spec, upper: stored.upper };
          continue;
        }
        const finishedAt = config.clock.now();
        lastFinishedAt = finishedAt;
        cursor = read.cursor;
        // Another lane may have split this partition: read no further than its new end.
        if (result.upper !== undefined) claim.spec = { ...claim.spec, upper: result.upper };
        this.tracker.add(result.delta, finishedAt);
        if (config.throttle?.paces()) {
          await config.throttle.afterBatch(read.items.length + read.malformed.length, finishedAt - startedAt, result.delta.quarantined);
          this.adjustLanes();
        }
        this.emit('batch', { runId: this.runId, partition: claim.index, size: read.items.length + read.malformed.length, durationMs: finishedAt - startedAt, delta: result.delta });
        if (result.control) this.requestStop({ kind: result.control.kind, actor: result.control.actor, reason: result.control.reason, asExpected: false });
        // Another worker already paused, cancelled or ended the run: stop here without a transition of our own.
        if (result.runState && result.runState !== 'running') this.requestStop({ kind: 'leave', actor: 'sluice', reason: `the run is ${result.runState}`, asExpected: false });
        if (result.tuning !== undefined && result.tuning !== this.tuning) await this.applyTuning(result.tuning);
        this.guardFailureRatio();
        if (read.done) {
          this.partitionsDone.add(claim.index);
          return;
        }
        if (config.throttle?.paces()) await config.throttle.pace((ms) => this.sleepUnlessStopped(ms), finishedAt - startedAt);
        // Synchronous drivers (better-sqlite3) resolve every await at once: without this the loop
        // would never let timers, signals or the host's own requests run until the run ends.
        // Yielding every ~10 ms keeps the host responsive at a negligible cost per batch.
        if (finishedAt - this.lastYieldAt >= YIELD_EVERY_MS) {
          await yieldToEventLoop();
          this.lastYieldAt = this.config.clock.now();
        }
      }
    } catch (error) {
      if (error instanceof LeaseLostError) {
        config.logger.warn({ runId: this.runId, partition: claim.index }, error.message);
        return;
      }
      if (error instanceof BatchAbortedError) {
        config.logger.warn({ runId: this.runId, partition: claim.index }, error.message);
        if (claim.lease) await config.store.releasePartition(claim.lease, 'pending').catch(() => undefined);
        return;
      }
      const message = messageOf(error);
      config.logger.error({ runId: this.runId, partition: claim.index, errorClass: errorClassOf(error), err: error }, 'partition failed');
      this.errors.push({ partition: claim.index, message });
      if (claim.lease) await config.store.releasePartition(claim.lease, 'failed', message).catch(() => undefined);
    } finally {
      clearInterval(heartbeat);
      await ahead.settle();
      this.partitionsRunning.delete(claim.index);
    }
  }

  /**
   * Splits the partition with the most items left, when the source can. The split point leaves at
   * least three batches after the cursor we saw, and the store refuses the split if the holder
   * committed more than one batch since: the holder learns its new end at its next checkpoint, so
   * the batches it reads with the old end (one committed, one in flight) stop short of the split.
   */
  private async splitLargest(): Promise<boolean> {
    const { config } = this;
    if (config.dryPartitions || !config.reader.split || !config.reader.count) return false;
    const minItems = 3 * this.batchSize();
    let best: { index: number; cursor: Cursor; batches: number; spec: PartitionSpec; left: number } | undefined;
    for (const p of await config.store.listPartitions(this.runId)) {
      if (p.state !== 'running' && p.state !== 'pending') continue;
      const spec = specOf(p);
      const left = await config.reader.count({ partition: spec, cursor: p.cursor, filter: config.filter });
      if (left >= 2 * minItems && (!best || left > best.left)) best = { index: p.index, cursor: p.cursor, batches: p.batches, spec, left };
    }
    if (!best) return false;
    const at = await config.reader.split({ partition: best.spec, cursor: best.cursor, filter: config.filter, minItems });
    if (at === null) return false;
    const created = await config.store.splitPartition(this.runId, best.index, { batches: best.batches, upper: best.spec.upper }, at, null);
    if (created === undefined) return ++this.missedSplits < 5; // the holder moved on meanwhile: look again, a few times
    this.missedSplits = 0;
    this.partitionTotal += 1;
    config.logger.info({ runId: this.runId, partition: best.index, newPartition: created, itemsLeft: best.left }, 'split the largest partition for an idle lane');
    return true;
  }

  /** Reads a batch, retrying transient source errors with the run's backoff policy. */
  private async read(claim: Claim, cursor: Cursor, limit: number): Promise<SourceBatch<unknown>> {
    const { config } = this;
    const { retry } = config.options;
    let connectionFailures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await config.reader.read({ partition: claim.spec, cursor, limit, filter: config.filter });
      } catch (error) {
        // A SourceError (missing table, unreadable file) will not heal by retrying.
        if (isSluiceError(error) && error.code === 'SOURCE') throw error;
        // The database restarting or failing over: as patient as the store is, not as the run's retries.
        if (isTransientStoreError(error) && ++connectionFailures < STORE_RETRY_ATTEMPTS) {
          attempt -= 1;
          const delayMs = backoffDelay({ attempts: STORE_RETRY_ATTEMPTS, baseDelayMs: 250, maxDelayMs: 5000 }, connectionFailures, config.clock.random);
          config.logger.warn({ runId: this.runId, partition: claim.index, delayMs, err: error }, 'the source\'s database connection failed; retrying');
          await config.clock.sleep(delayMs, this.abort.signal);
          continue;
        }
        if (attempt >= retry.attempts) throw error;
        const delayMs = backoffDelay(retry, attempt, config.clock.random);
        config.logger.warn({ runId: this.runId, partition: claim.index, attempt, delayMs, err: error }, 'source read failed; retrying');
        await config.clock.sleep(delayMs, this.abort.signal);
      }
    }
  }

  /**
   * Lets a lane start a batch unless `maxBatches` or the canary's `maxItems` is spent: the canary
   * reserves the items each batch may read, so that lanes together read exactly that many.
   */
  private takeBatchSlot(lane: number): boolean {
    const { maxBatches, maxItems } = this.config.options;
    if (maxBatches !== undefined && this.batchesStarted >= maxBatches) {
      this.requestStop({ kind: 'pause', actor: this.config.actor, reason: `maxBatches reached: stopped after ${maxBatches} batch${maxBatches === 1 ? '' : 'es'} (resumable)`, asExpected: true });
      return false;
    }
    let limit = this.batchSize();
    if (maxItems !== undefined) {
      if (this.itemsReserved >= maxItems) {
        this.requestStop({ kind: 'pause', actor: this.config.actor, reason: `canary: stopped after ${maxItems} items; check them (sluice report), then resume for the rest`, asExpected: true });
        return false;
      }
      limit = Math.min(limit, maxItems - this.itemsReserved);
      this.itemsReserved += limit;
    }
    this.laneLimit.set(lane, limit);
    this.batchesStarted += 1;
    return true;
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
        if (!run) return;
        if (run.control) this.requestStop({ kind: run.control.kind, actor: run.control.actor, reason: run.control.reason, asExpected: false });
        else if (run.state !== 'running') this.requestStop({ kind: 'leave', actor: 'sluice', reason: `the run is ${run.state}`, asExpected: false });
        if (run.tuning !== this.tuning) await this.applyTuning(run.tuning, run);
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

  private requestStop(request: StopRequest): void {
    // The first request wins, except that a cancel overrides a pause or a leave.
    if (this.stopRequest && !(request.kind === 'cancel' && this.stopRequest.kind !== 'cancel')) return;
    this.stopRequest = request;
    this.stopSignal.abort();
    // A stop the caller asked for up front (maxBatches, a canary's items, a worker leaving) is no
    // news to it: the run's state event says where it ended. Stops from elsewhere are worth a line.
    const level = request.asExpected ? 'debug' : 'info';
    this.config.logger[level]({ runId: this.runId, kind: request.kind, actor: request.actor, reason: request.reason }, 'stop requested; finishing batches in flight');
  }

  // ---- the end --------------------------------------------------------------------------------

  private async finish(): Promise<RunOutcome> {
    const { config } = this;
    const stop = this.stopRequest;
    if (config.dryRun) {
      const state: RunState = this.errors.length > 0 ? 'failed' : stop?.kind === 'cancel' ? 'cancelled' : stop && !stop.asExpected ? 'paused' : 'succeeded';
      const reason = this.errors[0]?.message ?? stop?.reason ?? 'dry run: nothing was written';
      return this.outcome(state, reason, stop);
    }
    const partitions = await config.store.listPartitions(this.runId);
    const allDone = partitions.every((p) => p.state === 'done');
    const failed = partitions.filter((p) => p.state === 'failed');
    let target: { to: RunState; actor: string; reason: string } | undefined;
    if (allDone) {
      // The run's counts, not this process's: other workers may have done most of it.
      const c = partitions.reduce((sum, p) => addCounts(sum, p.counts), zeroCounts());
      target = { to: 'succeeded', actor: 'sluice', reason: `all partitions done: ${c.processed} processed, ${c.skipped} skipped, ${c.quarantined} quarantined` };
    } else if (stop?.kind === 'leave') {
      const now = await config.store.getRun(this.runId);
      return this.outcome(now?.state ?? 'running', stop.reason, stop, now);
    } else if (stop?.kind === 'cancel') {
      target = { to: 'cancelled', actor: stop.actor, reason: stop.reason };
    } else if (failed.length > 0 && !partitions.some((p) => p.state === 'running' && p.leaseOwner !== config.worker.id)) {
      const first = this.errors[0]?.message ?? failed[0]!.error ?? 'unknown error';
      target = { to: 'failed', actor: 'sluice', reason: `${failed.length} of ${partitions.length} partitions failed: ${first}` };
    } else if (stop) {
      target = { to: 'paused', actor: stop.actor, reason: stop.reason };
    }
    if (!target) {
      // Other workers hold the remaining partitions: the run goes on without this process.
      return this.outcome('running', 'remaining partitions are held by other workers', stop);
    }
    const record = await config.store.transitionRun(this.runId, ['running'], target.to, target.actor, target.reason);
    const final = record ?? (await config.store.getRun(this.runId));
    const state = final?.state ?? target.to;
    this.state = state;
    this.emit('state', { runId: this.runId, from: 'running', to: state, actor: target.actor, reason: target.reason });
    return this.outcome(state, final?.reason ?? target.reason, stop, final);
  }

  private async finishWithError(error: unknown): Promise<RunOutcome> {
    const reason = `execution failed: ${messageOf(error)}`;
    let record: RunRecord | undefined;
    if (!this.config.dryRun) {
      record = await this.config.store.transitionRun(this.runId, ['running'], 'failed', 'sluice', reason).catch(() => undefined);
    }
    return this.outcome('failed', reason, this.stopRequest, record);
  }

  private async outcome(state: RunState, reason: string | null, stop: StopRequest | null, record?: RunRecord): Promise<RunOutcome> {
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
      exitCode: exitCodeFor(state, stop),
      record,
    };
  }

  /** The run's time in state `running` over all its executions, from its transition log. */
  private async activeMs(now: number): Promise<number | null> {
    try {
      return activeMs(await this.config.store.listTransitions(this.runId), now);
    } catch (error) {
      // The end of a run whose store fails (finishWithError) still reports, without this number.
      this.config.logger.warn({ runId: this.runId, err: error }, 'could not read the run\'s transitions for its active time');
      return null;
    }
  }
}

function specOf(partition: PartitionRecord): PartitionSpec {
  return {
    lower: partition.lower,
    upper: partition.upper,
    ...(partition.label !== null ? { label: partition.label } : {}),
    ...(partition.child !== null ? { child: partition.child } : {}),
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function exitCodeFor(state: RunState, stop: StopRequest | null): ExitCode {
  switch (state) {
    case 'succeeded':
    case 'running':
    case 'pending':
      return ExitCode.ok;
    case 'paused':
      return stop?.asExpected ? ExitCode.ok : ExitCode.paused;
    case 'cancelled':
      return ExitCode.cancelled;
    case 'failed':
      return ExitCode.failed;
  }
}

