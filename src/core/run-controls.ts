import type { Clock } from './clock.js';
import { InvalidTransitionError, SluiceError, UsageError } from './errors.js';
import { liveLeaseOwners, type OwnerDeadCheck } from './lease-liveness.js';
import { NO_ROLLOUT } from './rollout.js';
import type { RunRecord } from './run.js';
import { OPEN_STATES, TERMINAL_STATES } from './run-state.js';
import type { RetunePatch } from './sluice.js';
import { pick, validateStartOptions } from './start-options.js';
import type { PartitionLeases, RolloutBudgets, RunStore, StoreDatabase } from './store.js';
import { describeChanges, knobsOf, resolveKnobs } from './throttle/knobs.js';

/** An execution in this process, as the controls reach it: told directly rather than through the store. */
export interface LocalExecution {
  stop(actor: string, reason: string): void;
  cancel(actor: string, reason: string): void;
}

export interface RunControlDeps {
  /** Runs' states, controls and options; a failed run's partitions; the rollout a requeue clears; the store's clock. */
  store: StoreDatabase & RunStore & RolloutBudgets & PartitionLeases;
  clock: Clock;
  isOwnerDead: OwnerDeadCheck;
  /** Executions running in this process, by run id. */
  executing: ReadonlyMap<string, LocalExecution>;
  getRunOrThrow(runId: string): Promise<RunRecord>;
}

/**
 * The operator's controls of a run: pause, cancel, retune, and the transitions that hand a run
 * back to the workers (requeue, reopen). A run executing in this process is told directly; one a
 * worker elsewhere holds gets a control request through the store, which its lanes read at their
 * next batch boundary; one nobody executes changes state in the store at once.
 */
export class RunControls {
  constructor(private readonly deps: RunControlDeps) {}

  async requeue(runId: string, actor: string, reason: string): Promise<RunRecord> {
    const run = await this.deps.getRunOrThrow(runId);
    if (run.state === 'pending') return run;
    if (run.state !== 'paused')
      throw new InvalidTransitionError(`run ${runId} is ${run.state}; only a paused run can be handed back to the workers`, {
        hint: requeueHint(run),
      });
    // A resume lifts a canary's budget and a gradual rollout's ramp: the workers go on with the rest.
    await this.deps.store.setRollout(runId, NO_ROLLOUT);
    return (await this.deps.store.transitionRun(runId, ['paused'], 'pending', actor, reason)) ?? this.deps.getRunOrThrow(runId);
  }

  async reopen(runId: string, actor: string, reason: string): Promise<RunRecord> {
    const run = await this.deps.getRunOrThrow(runId);
    if (run.state !== 'failed') {
      throw new InvalidTransitionError(`run ${runId} is ${run.state}; only failed runs can be retried`, {
        hint: run.state === 'paused' ? `use \`resume('${runId}')\`` : undefined,
      });
    }
    const [open] = await this.deps.store.listRuns({
      backfill: run.backfill,
      params: run.params.extra ?? {},
      states: OPEN_STATES,
      limit: 1,
    });
    if (open) {
      throw new InvalidTransitionError(
        `run ${open.id} of ${run.backfill} with the same parameters is open (${open.state}); reopening ${runId} beside it would run both`,
        {
          hint: `finish or cancel run ${open.id} first; its items include the ones ${runId} failed on`,
        },
      );
    }
    const reopened = await this.deps.store.transitionRun(runId, ['failed'], 'pending', actor, reason);
    if (!reopened)
      throw new SluiceError('RUN_CHANGED', `run ${runId} changed state while it was being retried; look at \`status('${runId}')\``);
    await this.deps.store.resetFailedPartitions(runId);
    return reopened;
  }

  async pause(runId: string, actor: string, reason: string): Promise<RunRecord> {
    const run = await this.deps.getRunOrThrow(runId);
    const local = this.deps.executing.get(runId);
    if (local) {
      local.stop(actor, reason);
      return run;
    }
    switch (run.state) {
      case 'paused':
        return run;
      case 'pending':
        return (await this.deps.store.transitionRun(runId, ['pending'], 'paused', actor, reason)) ?? this.deps.getRunOrThrow(runId);
      case 'running':
        if (await this.liveHolder(runId)) {
          await this.deps.store.setControl(runId, {
            kind: 'pause',
            actor,
            reason,
            requestedAt: new Date(this.deps.clock.now()).toISOString(),
          });
          return this.deps.getRunOrThrow(runId);
        }
        return (
          (await this.deps.store.transitionRun(runId, ['running'], 'paused', actor, `${reason} (no worker was executing it)`)) ??
          this.deps.getRunOrThrow(runId)
        );
      default:
        throw new InvalidTransitionError(`run ${runId} is ${run.state}; only pending or running runs can be paused`);
    }
  }

  async cancel(runId: string, actor: string, reason: string): Promise<RunRecord> {
    const run = await this.deps.getRunOrThrow(runId);
    const local = this.deps.executing.get(runId);
    if (local) {
      local.cancel(actor, reason);
      return run;
    }
    if (TERMINAL_STATES.includes(run.state)) {
      throw new InvalidTransitionError(`run ${runId} is ${run.state}; only pending, running or paused runs can be cancelled`);
    }
    if (run.state === 'running' && (await this.liveHolder(runId))) {
      await this.deps.store.setControl(runId, {
        kind: 'cancel',
        actor,
        reason,
        requestedAt: new Date(this.deps.clock.now()).toISOString(),
      });
      return this.deps.getRunOrThrow(runId);
    }
    return (
      (await this.deps.store.transitionRun(runId, ['pending', 'running', 'paused'], 'cancelled', actor, reason)) ??
      this.deps.getRunOrThrow(runId)
    );
  }

  async retune(runId: string, patch: RetunePatch, actor: string, reason: string): Promise<RunRecord> {
    const run = await this.deps.getRunOrThrow(runId);
    if (TERMINAL_STATES.includes(run.state))
      throw new InvalidTransitionError(`run ${runId} is ${run.state}; only an open run can be retuned`);
    validateStartOptions(patch);
    const { profile, ...explicit } = patch;
    if (profile === undefined && Object.values(explicit).every((v) => v === undefined)) {
      throw new UsageError(
        'retune needs at least one of `batchSize`, `concurrency`, `batchDelayMs`, `maxMemoryMb`, `maxEventLoopLagMs`, `profile`',
        {
          details: { options: ['batchSize', 'concurrency', 'batchDelayMs', 'maxMemoryMb', 'maxEventLoopLagMs', 'profile'] },
        },
      );
    }
    const current = knobsOf(run.options);
    const knobs = resolveKnobs(current, [
      {
        source: `retune by ${actor}`,
        ...(profile ? { profile } : {}),
        knobs: pick(explicit, ['batchSize', 'concurrency', 'batchDelayMs', 'maxMemoryMb', 'maxEventLoopLagMs']),
      },
    ]).knobs;
    const updated = await this.deps.store.updateRunOptions(runId, { ...knobs, ...(profile ? { profile } : {}) });
    const changes = describeChanges(current, knobs) || 'no change';
    await this.deps.store.recordDecision(runId, {
      worker: actor,
      kind: 'retune',
      reason: `${reason} (by ${actor}${profile ? `, profile ${profile}` : ''}): ${changes}`,
      settings: knobs,
    });
    return updated;
  }

  async cancelByKey(key: { name: string; value: string }, actor: string, reason: string): Promise<RunRecord[]> {
    const open = await this.deps.store.listRuns({ key, states: OPEN_STATES, limit: 10_000 });
    const cancelled: RunRecord[] = [];
    for (const run of open) {
      try {
        cancelled.push(await this.cancel(run.id, actor, reason));
      } catch (error) {
        // It ended meanwhile (finished by a worker): nothing left to cancel.
        if (!(error instanceof InvalidTransitionError)) throw error;
      }
    }
    return cancelled;
  }

  /** The owner of a live lease on one of the run's partitions, if any. */
  private async liveHolder(runId: string): Promise<string | undefined> {
    const [partitions, now] = await Promise.all([this.deps.store.listPartitions(runId), this.deps.store.clockNow()]);
    return liveLeaseOwners(partitions, now, this.deps.isOwnerDead)[0];
  }
}

/** What to do instead of handing a run that is not paused back to the workers. */
function requeueHint(run: RunRecord): string {
  switch (run.state) {
    case 'running':
      return `it is executing already; \`status('${run.id}')\` shows who holds its partitions`;
    case 'failed':
      return 'a failed run is reopened: `reopen` hands it to the workers, `retry` executes it here';
    default:
      return `it has ended; start a new run of ${run.backfill} instead`;
  }
}
