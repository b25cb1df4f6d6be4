import { systemClock, type Clock } from './clock.js';
import { limitsFor } from './concurrency.js';
import type { RunPreview } from './sluice.js';
import { type SampleReport, sampleDryRun } from './sample.js';
import type { VerificationRecord } from './verify.js';
import type { BackfillDefinition } from './definition.js';
import {
  InvalidTransitionError,
  NotFoundError,
  RunAlreadySucceededError,
  RunQueuedError,
  SluiceError,
  UsageError,
  messageOf,
} from './errors.js';
import { newRunId, ownerGoneFromThisHost, processIdentity, rememberOwnIdentity } from './ids.js';
import { type Logger, silentLogger } from './logger.js';
import { allSettled, hasLiveLease, isClaimable, type Stalled, stalledOf } from './lease-liveness.js';
import { replayQuarantine } from './replay.js';
import { rolloutOf } from './rollout.js';
import type { RunRecord, WorkerIdentity } from './run.js';
import { RunExecution } from './run-execution.js';
import type { RunHandle, StartOptions } from './run-handle.js';
import { OPEN_STATES, TERMINAL_STATES } from './run-state.js';
import type { EnqueueResult, ReplayResult, RetunePatch, RunStatus, Sluice, SluiceOptions } from './sluice.js';
import type { SourceReader } from './source.js';
import { filterOf, planRun } from './run-plan.js';
import { readRunStatus } from './run-status.js';
import { reportsSuccess, validateStartOptions } from './start-options.js';
import { resolveRunOptions } from './run-options.js';
import { type ThrottleDeps, throttleOf } from './run-throttle.js';
import type { NewRun, Store } from './store.js';
import { RunControls } from './run-controls.js';

const DEFAULT_LEASE_MS = 30_000;
/** How often an execution looks for a dead worker's partitions to adopt: the worker's default poll. */
const DEFAULT_ORPHAN_POLL_MS = 1000;

/** Creates the engine over a store and a set of backfill definitions. */
export function createSluice(options: SluiceOptions): Sluice {
  return new Engine(options);
}

class Engine implements Sluice {
  readonly store: Store;
  private readonly definitions = new Map<string, BackfillDefinition<unknown>>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly worker: WorkerIdentity;
  private readonly leaseMs: number;
  private readonly progressIntervalMs: number;
  private readonly isOwnerDead: (owner: string) => boolean;
  private readonly memoryReader: (() => { rss: number; heapUsed: number }) | undefined;
  /** Executions running in this process, by run id. */
  private readonly executing = new Map<string, RunExecution>();
  /** Counts of planned items still running beside the runs they are for. */
  private readonly counting = new Set<{ counted: Promise<number>; abort(): void }>();
  private closing = false;
  private readonly controls: RunControls;

  constructor(options: SluiceOptions) {
    this.store = options.store;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.worker = options.worker ?? processIdentity(this.clock);
    rememberOwnIdentity(this.worker.id);
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.progressIntervalMs = options.progressIntervalMs ?? 1000;
    this.isOwnerDead = options.isOwnerDead ?? ownerGoneFromThisHost;
    this.memoryReader = options.memoryReader;
    this.controls = new RunControls({
      store: this.store,
      clock: this.clock,
      isOwnerDead: this.isOwnerDead,
      executing: this.executing,
      getRunOrThrow: (runId) => this.getRunOrThrow(runId),
    });
    for (const definition of options.backfills) {
      if (this.definitions.has(definition.name)) {
        throw new UsageError(`two backfills are named "${definition.name}"; names must be unique`);
      }
      this.definitions.set(definition.name, definition as BackfillDefinition<unknown>);
    }
  }

  backfill(name: string): BackfillDefinition<unknown> {
    const definition = this.definitions.get(name);
    if (!definition) {
      const known = [...this.definitions.keys()];
      throw new NotFoundError(`unknown backfill "${name}"`, {
        hint: known.length > 0 ? `defined backfills: ${known.join(', ')}` : 'no backfills are defined: add them to sluice.config.ts',
      });
    }
    return definition;
  }

  backfills(): readonly BackfillDefinition<unknown>[] {
    return [...this.definitions.values()];
  }

  // ---- starting -----------------------------------------------------------------------------

  async start(name: string, options: StartOptions = {}): Promise<RunHandle> {
    const definition = this.backfill(name);
    validateStartOptions(options);
    if (options.dryRun) return this.startDryRun(definition, options);
    if (options.newRun) {
      await this.warnBeside(name, options);
    } else {
      // Usually the run to continue exists already: no need to plan a new one to find it.
      const existing = await this.existingRun(name, options);
      if (existing) return this.continueRun(existing, definition, options);
    }
    const created = await this.createRun(definition, options, { countBeside: true, once: !options.newRun });
    if (!created.created) return this.continueRun(created.run, definition, options);
    return this.execute(created.run, definition, options, options.reason ?? 'started', {
      reader: created.reader,
      ...(created.counted ? { counted: created.counted } : {}),
    });
  }

  async enqueue(name: string, options: StartOptions = {}): Promise<EnqueueResult> {
    const definition = this.backfill(name);
    validateStartOptions(options);
    if (options.dryRun) throw new UsageError('a dry run executes here and records nothing: it cannot be queued for workers');
    if (options.newRun) await this.warnBeside(name, options);
    let run = options.newRun ? undefined : await this.existingRun(name, options);
    if (!run) {
      const created = await this.createRun(definition, options, { countBeside: false, once: !options.newRun });
      await created.reader?.close();
      if (created.created) return { run: created.run, outcome: 'created' };
      run = created.run;
    }
    this.checkResumable(run, options);
    // The open run, handed to the workers as `start` would continue it here: a paused one goes back to pending.
    if (run.state !== 'paused') return { run, outcome: 'open' };
    return {
      run: await this.requeue(run.id, options.actor ?? 'api', options.reason ?? `resumed for the workers by ${options.actor ?? 'api'}`),
      outcome: 'requeued',
    };
  }

  /**
   * The run a start without `newRun` continues: the backfill's open run with the same parameters,
   * or its latest run with them when that one succeeded (reported, not redone; see `reportsSuccess`).
   * A quick lookup before planning; `createRunOnce` decides atomically when it finds nothing.
   */
  private async existingRun(name: string, options: StartOptions): Promise<RunRecord | undefined> {
    const params = options.params ?? {};
    const [open] = await this.store.listRuns({ backfill: name, params, states: OPEN_STATES, limit: 1 });
    if (open || !reportsSuccess(options)) return open;
    const [last] = await this.store.listRuns({ backfill: name, params, limit: 1 });
    return last?.state === 'succeeded' && last.params.since === undefined ? last : undefined;
  }

  /** A new run asked for while one with the same parameters is open: both will run, and that must be said. */
  private async warnBeside(name: string, options: StartOptions): Promise<void> {
    const [open] = await this.store.listRuns({ backfill: name, params: options.params ?? {}, states: OPEN_STATES, limit: 1 });
    if (!open) return;
    this.logger.warn(
      { openRun: open.id, state: open.state },
      `a new run of ${name} was asked for while run ${open.id} (${open.state}) with the same parameters is open: both will run, ` +
        (this.backfill(name).dedup ? 'and the ledger skips only what either has delivered' : 'and each writes every item it covers'),
    );
  }

  /** Continues the run a start found (the open one), or says that the backfill already succeeded. */
  private continueRun(run: RunRecord, definition: BackfillDefinition<unknown>, options: StartOptions): Promise<RunHandle> {
    this.checkResumable(run, options);
    if (options.since !== undefined) {
      this.logger.warn({ runId: run.id }, 'the since option is ignored: resuming an open run keeps the window it was created with');
    }
    return this.execute(run, definition, options, `resumed by ${options.actor ?? 'api'}`);
  }

  /** What a start that found `run` instead of creating one may not do with it. */
  private checkResumable(run: RunRecord, options: StartOptions): void {
    if (run.state === 'succeeded') throw new RunAlreadySucceededError(run);
    if (options.reprocess !== undefined && options.reprocess !== (run.options.reprocess ?? 'none')) {
      throw new UsageError(`reprocess "${options.reprocess}" applies to a new run, but run ${run.id} is still open`, {
        code: 'RUN_OPEN',
        hint: 'finish or cancel it first, or start a new run beside it',
      });
    }
  }

  async verify(runId: string, actor: string): Promise<VerificationRecord[]> {
    const run = await this.getRunOrThrow(runId);
    const definition = this.backfill(run.backfill);
    if (definition.verify.length === 0) {
      throw new UsageError(`backfill ${run.backfill} defines no checks`, {
        hint: 'add verify: [parity(...), uniqueness(...), coverage(...)] to its definition',
      });
    }
    const results: VerificationRecord[] = [];
    for (const check of definition.verify) {
      let outcome: { passed: boolean; detail: string };
      try {
        outcome = await check.run({ run, sql: this.store.readConnection() });
      } catch (error) {
        outcome = { passed: false, detail: `the check failed to run: ${messageOf(error)}` };
      }
      const record = { runId, check: check.name, passed: outcome.passed, detail: outcome.detail, actor };
      await this.store.recordVerification(record);
      results.push({ ...record, at: new Date(this.clock.now()).toISOString() });
    }
    return results;
  }

  async sample(name: string, options: StartOptions & { perBucket?: number; scan?: number } = {}): Promise<SampleReport> {
    const definition = this.backfill(name);
    validateStartOptions(options);
    const plan = await planRun({ store: this.store, clock: this.clock }, definition, options);
    try {
      return await sampleDryRun({
        definition,
        reader: plan.reader,
        partitions: plan.partitions,
        filter: plan.filter,
        params: plan.params,
        store: this.store,
        clock: this.clock,
        logger: this.logger,
        perBucket: options.perBucket ?? 10,
        scan: options.scan ?? 1000,
      });
    } finally {
      await plan.reader.close();
    }
  }

  async preview(name: string, options: StartOptions = {}): Promise<RunPreview> {
    const definition = this.backfill(name);
    validateStartOptions(options);
    const plan = await planRun({ store: this.store, clock: this.clock }, definition, options);
    await plan.reader.close();
    return {
      backfill: name,
      params: plan.params,
      options: plan.runOptions,
      keys: plan.keys,
      partitions: plan.partitions.map((p) => ({ label: p.label ?? null, child: p.child ?? null })),
      plannedItems: plan.plannedItems,
    };
  }

  /**
   * Plans a new run and records it as pending. With `once`, the store creates it only when the
   * backfill has no open (or succeeded) run with the same parameters, atomically: `created` is
   * false and `run` is the one found when another start got there first.
   */
  private async createRun(
    definition: BackfillDefinition<unknown>,
    options: StartOptions,
    how: { countBeside: boolean; once: boolean },
  ): Promise<
    | { created: true; run: RunRecord; reader: SourceReader<unknown>; counted?: Promise<number> }
    | { created: false; run: RunRecord; reader?: undefined; counted?: undefined }
  > {
    const plan = await planRun({ store: this.store, clock: this.clock }, definition, options, how.countBeside);
    try {
      const input: NewRun = {
        id: newRunId(this.clock.now(), this.clock.random),
        backfill: definition.name,
        params: plan.params,
        options: plan.runOptions,
        createdBy: options.actor ?? 'api',
        reason: options.reason ?? 'started',
        partitions: plan.partitions,
        plannedItems: plan.plannedItems,
        keys: plan.keys,
        rollout: rolloutOf(options),
      };
      const { run, created } = how.once
        ? await this.store.createRunOnce(input, { orSucceeded: reportsSuccess(options) })
        : { run: await this.store.createRun(input), created: true };
      if (!created) {
        plan.counting?.abort();
        await plan.reader.close().catch(() => undefined);
        return { created: false, run };
      }
      return { created: true, run, reader: plan.reader, ...(plan.counting ? { counted: this.recordCount(run.id, plan.counting) } : {}) };
    } catch (error) {
      plan.counting?.abort();
      await plan.reader.close().catch(() => undefined);
      throw error;
    }
  }

  /** Stores the run's planned items when the count beside it ends; `close()` gives up counts still running. */
  private recordCount(runId: string, counting: { counted: Promise<number>; abort(): void }): Promise<number> {
    this.counting.add(counting);
    const recorded = counting.counted.then(async (n) => {
      await this.store.setPlannedItems(runId, n);
      return n;
    });
    recorded
      .then(
        () => undefined,
        (error: unknown) =>
          this.closing
            ? this.logger.info({ runId }, 'stopped counting the items for progress (closing): this run shows no total')
            : this.logger.warn({ runId, err: error }, 'could not count the items for progress; the run goes on without a total'),
      )
      .finally(() => this.counting.delete(counting));
    return recorded;
  }

  async resume(runId: string, options: StartOptions = {}): Promise<RunHandle> {
    validateStartOptions(options);
    const run = await this.getRunOrThrow(runId);
    if (TERMINAL_STATES.includes(run.state)) {
      throw new InvalidTransitionError(`run ${runId} is ${run.state}; only pending, paused or interrupted runs can be resumed`, {
        hint: run.state === 'failed' ? `use \`retry('${runId}')\`` : 'start a new run instead',
      });
    }
    return this.execute(run, this.backfill(run.backfill), options, options.reason ?? `resumed by ${options.actor ?? 'api'}`);
  }

  async join(runId: string, options: StartOptions = {}): Promise<RunHandle> {
    validateStartOptions(options);
    let run = await this.getRunOrThrow(runId);
    const definition = this.backfill(run.backfill);
    if (run.state === 'pending') {
      const started = await this.store.startRun(runId, ['pending'], options.actor ?? 'worker', 'started by a worker', limitsFor(run));
      if (started.kind === 'queued') throw new RunQueuedError(runId, started.behind, started.reason);
      run = started.kind === 'started' ? started.run : await this.getRunOrThrow(runId);
    }
    if (run.state !== 'running')
      throw new InvalidTransitionError(`run ${runId} is ${run.state}; workers only join pending or running runs`);
    if (this.executing.has(runId)) throw new SluiceError('RUN_ACTIVE', `run ${runId} is already executing in this process`);
    await this.store.expireLeases(this.isOwnerDead);
    const reader = await definition.source.open({ storeConnection: this.store.readConnection() });
    const resolved = resolveRunOptions(definition, options, run.options);
    const execution = new RunExecution({
      ...this.executionBase(definition, reader),
      run,
      options: resolved.runOptions,
      throttle: throttleOf(this.throttleDeps(), definition, run, resolved.knobs, resolved.runOptions.gradual),
      filter: filterOf(run.params),
      actor: options.actor ?? 'worker',
      dryRun: false,
      onEnded: () => this.executing.delete(runId),
      limits: limitsFor(run),
      waitWhenBlocked: false,
      orphanPollMs: options.orphanPollMs ?? DEFAULT_ORPHAN_POLL_MS,
      // A worker leaves a run others are finishing: it has other runs to look at. A start that
      // joins instead of starting the run a second time follows it, as its own run would.
      follow: options.follow ?? false,
    });
    this.executing.set(runId, execution);
    return execution;
  }

  async hasFreePartitions(runId: string): Promise<boolean> {
    await this.store.expireLeases(this.isOwnerDead);
    const [partitions, now] = await Promise.all([this.store.listPartitions(runId), this.store.clockNow()]);
    // Every partition settled but the run still open: its last worker died before ending it, and
    // joining it ends it.
    if (allSettled(partitions)) return (await this.store.getRun(runId))?.state === 'running';
    if (!partitions.some((p) => isClaimable(p, now))) return false;
    // A gradual rollout's ramp may have no lane to give: a worker joining now would only be refused.
    const rampLanes = (await this.store.getRun(runId))?.rampLanes ?? null;
    return rampLanes === null || partitions.filter((p) => hasLiveLease(p, now, () => false)).length < rampLanes;
  }

  async retry(runId: string, options: StartOptions = {}): Promise<RunHandle> {
    validateStartOptions(options);
    const definition = this.backfill((await this.getRunOrThrow(runId)).backfill);
    const reopened = await this.reopen(runId, options.actor ?? 'api', options.reason ?? 'retry failed partitions');
    return this.execute(reopened, definition, options, 'retrying');
  }

  private async startDryRun(definition: BackfillDefinition<unknown>, options: StartOptions): Promise<RunHandle> {
    const plan = await planRun({ store: this.store, clock: this.clock }, definition, options);
    return new RunExecution({
      ...this.executionBase(definition, plan.reader),
      run: {
        id: `dry-${newRunId(this.clock.now(), this.clock.random).slice(2)}`,
        backfill: definition.name,
        params: plan.params,
        counts: { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 },
        batches: 0,
        plannedItems: plan.plannedItems,
      },
      options: plan.runOptions,
      filter: plan.filter,
      actor: options.actor ?? 'api',
      dryRun: true,
      dryPartitions: plan.partitions,
    });
  }

  /**
   * Moves the run to running (recording how) and starts executing it in this process. A run just
   * `created` has its rollout (canary, ramp) already; any other takes this call's, which lifts an
   * earlier canary or ramp when it asks for none.
   */
  private async execute(
    run: RunRecord,
    definition: BackfillDefinition<unknown>,
    options: StartOptions,
    reason: string,
    created?: { reader: SourceReader<unknown>; counted?: Promise<number> },
  ): Promise<RunHandle> {
    const actor = options.actor ?? 'api';
    let reader = created?.reader;
    try {
      if (this.executing.has(run.id)) throw new SluiceError('RUN_ACTIVE', `run ${run.id} is already executing in this process`);
      await this.store.expireLeases(this.isOwnerDead);
      if (run.state === 'running') {
        if (await this.executingElsewhere(run)) return await this.joinInstead(run.id, options, reader);
        // The process that ran it died without checkpointing a pause: record that, then take over.
        await this.store.transitionRun(
          run.id,
          ['running'],
          'paused',
          'sluice',
          'the worker executing the run stopped without pausing it (crash or kill); its last checkpoint is kept',
        );
      }
      // While the run is not running (no worker joins a paused run), so that none works under the old rollout.
      if (!created) await this.store.setRollout(run.id, rolloutOf(options));
      const limits = limitsFor(run);
      const result = await this.store.startRun(run.id, ['pending', 'paused'], actor, reason, limits);
      if (result.kind === 'queued') throw new RunQueuedError(run.id, result.behind, result.reason);
      let started: RunRecord;
      if (result.kind === 'unchanged') {
        const now = await this.getRunOrThrow(run.id);
        // Another process started it between our read and our start (a worker polling the store,
        // or another start): work on it beside that one.
        if (now.state === 'running') return await this.joinInstead(run.id, options, reader);
        // Another process finished it meanwhile: what a start a moment later would have found.
        if (now.state === 'succeeded') throw new RunAlreadySucceededError(now);
        throw new InvalidTransitionError(`run ${run.id} is ${now.state}; it cannot be started`);
      } else {
        started = result.run;
      }
      reader ??= await definition.source.open({ storeConnection: this.store.readConnection() });
      const resolved = resolveRunOptions(definition, options, started.options);
      const execution = new RunExecution({
        ...this.executionBase(definition, reader),
        run: started,
        options: resolved.runOptions,
        throttle: throttleOf(this.throttleDeps(), definition, started, resolved.knobs, resolved.runOptions.gradual),
        filter: filterOf(started.params),
        actor,
        dryRun: false,
        onEnded: () => this.executing.delete(run.id),
        limits,
        waitWhenBlocked: true,
        orphanPollMs: options.orphanPollMs ?? DEFAULT_ORPHAN_POLL_MS,
        follow: options.follow ?? true,
      });
      this.executing.set(run.id, execution);
      created?.counted?.then(
        (n) => execution.plannedItemsCounted(n),
        () => undefined,
      );
      return execution;
    } catch (error) {
      await reader?.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Whether a `running` run is being executed by another process: one holds a live lease, or the
   * run became `running` less than a lease ago and no partition was ever claimed (its starter has
   * not claimed one yet). Otherwise its processes are gone and this one takes it over.
   */
  private async executingElsewhere(run: RunRecord): Promise<boolean> {
    const [partitions, now] = await Promise.all([this.store.listPartitions(run.id), this.store.clockNow()]);
    if (partitions.some((p) => hasLiveLease(p, now, this.isOwnerDead))) return true;
    const neverClaimed = partitions.every((p) => p.leaseOwner === null && p.state === 'pending');
    // The store's clock, like the run's `updatedAt`: this process's clock may be off the database's.
    return neverClaimed && Date.parse(run.updatedAt) > now - this.leaseMs;
  }

  /** Joins a run another process executes, as a worker does, instead of starting it a second time. */
  private async joinInstead(runId: string, options: StartOptions, reader: SourceReader<unknown> | undefined): Promise<RunHandle> {
    await reader?.close().catch(() => undefined);
    const run = await this.getRunOrThrow(runId);
    // The other process finished it meanwhile: the start found a success, as if it came a moment later.
    if (run.state === 'succeeded') throw new RunAlreadySucceededError(run);
    return this.join(runId, { ...options, actor: options.actor ?? 'api', follow: options.follow ?? true });
  }

  private throttleDeps(): ThrottleDeps {
    return { store: this.store, worker: this.worker, clock: this.clock, logger: this.logger, memoryReader: this.memoryReader };
  }

  private executionBase(definition: BackfillDefinition<unknown>, reader: SourceReader<unknown>) {
    return {
      store: this.store,
      definition,
      reader,
      clock: this.clock,
      logger: this.logger,
      worker: this.worker,
      leaseMs: this.leaseMs,
      progressIntervalMs: this.progressIntervalMs,
      isOwnerDead: this.isOwnerDead,
    };
  }

  // ---- controls -----------------------------------------------------------------------------

  pause(runId: string, actor: string, reason: string): Promise<RunRecord> {
    return this.controls.pause(runId, actor, reason);
  }

  cancel(runId: string, actor: string, reason: string): Promise<RunRecord> {
    return this.controls.cancel(runId, actor, reason);
  }

  retune(runId: string, patch: RetunePatch, actor: string, reason: string): Promise<RunRecord> {
    return this.controls.retune(runId, patch, actor, reason);
  }

  cancelByKey(key: { name: string; value: string }, actor: string, reason: string): Promise<RunRecord[]> {
    return this.controls.cancelByKey(key, actor, reason);
  }

  requeue(runId: string, actor: string, reason: string): Promise<RunRecord> {
    return this.controls.requeue(runId, actor, reason);
  }

  reopen(runId: string, actor: string, reason: string): Promise<RunRecord> {
    return this.controls.reopen(runId, actor, reason);
  }

  // ---- reading ------------------------------------------------------------------------------

  async status(runId: string): Promise<RunStatus> {
    const run = await this.getRunOrThrow(runId);
    return readRunStatus({ store: this.store, isOwnerDead: this.isOwnerDead }, run, () => this.executing.has(runId));
  }

  async stalled(runId: string): Promise<Stalled | null> {
    const run = await this.getRunOrThrow(runId);
    if (run.state !== 'running' || this.executing.has(runId)) return null;
    const [partitions, now] = await Promise.all([this.store.listPartitions(runId), this.store.clockNow()]);
    return stalledOf(run, partitions, now, this.isOwnerDead);
  }

  listRuns(filter?: Parameters<Sluice['listRuns']>[0]) {
    return this.store.listRuns(filter);
  }

  listQuarantine(filter: Parameters<Sluice['listQuarantine']>[0]) {
    return this.store.listQuarantine(filter);
  }

  async replayQuarantine(
    runId: string,
    options: { errorClass?: string; ids?: readonly number[]; actor?: string } = {},
  ): Promise<ReplayResult> {
    const run = await this.getRunOrThrow(runId);
    return replayQuarantine({ store: this.store, definition: this.backfill(run.backfill), run, logger: this.logger, ...options });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const counting of this.counting) counting.abort();
    // Beside other workers, this process's partitions go back to them; alone, the run pauses.
    for (const execution of this.executing.values()) execution.withdraw('sluice', 'engine closing');
    await Promise.all([...this.executing.values()].map((e) => e.done));
    // The definitions' health signals hold connections of their own.
    const signals = new Set(this.backfills().flatMap((d) => d.throttle.signals));
    await Promise.all([...signals].map((s) => s.close?.().catch(() => undefined)));
  }

  private async getRunOrThrow(runId: string): Promise<RunRecord> {
    const run = await this.store.getRun(runId);
    if (!run) throw new NotFoundError(`no run "${runId}" in ${this.store.location}`, { hint: 'list runs with `listRuns()`' });
    return run;
  }
}
