import { type Clock, systemClock } from './clock.js';
import { isSluiceError, isTransientStoreError, messageOf } from './errors.js';
import type { RunRecord } from './run.js';
import { type Logger, silentLogger } from './logger.js';
import type { RunHandle, RunOutcome, StartOptions } from './run-handle.js';
import type { Sluice } from './sluice.js';

/** The longest wait between two looks at a store that does not answer: the worker resumes within it once the store answers. */
export const STORE_RETRY_INTERVAL_MS = 5000;

/** How long an idle worker waits before trying again to split a run whose partitions are all held. */
const SPLIT_RETRY_MS = 5000;

export interface WorkerLoopOptions {
  sluice: Sluice;
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: silent. */
  logger?: Logger;
  /** Aborting it makes the worker hand its partitions back and return. */
  signal: AbortSignal;
  /** How often to look for work when there is none. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Only runs of these backfills (default: every registered one). */
  backfills?: readonly string[];
  /** Stop when no pending or running run of these backfills is left (tests, one-shot jobs) instead of polling forever. */
  exitWhenIdle?: boolean;
  /** Lanes this worker runs per run (default: the run's own concurrency). */
  concurrency?: number;
  /** Further options for every run it joins (the environment's throttle knobs). */
  joinOptions?: StartOptions;
  onRun?(handle: RunHandle): void;
  onOutcome?(outcome: RunOutcome): void;
}

/** How a worker loop ended. */
export interface WorkerLoopResult {
  /** It found no pending or running run left (`exitWhenIdle`); otherwise its signal was aborted. */
  idle: boolean;
  /** Runs in which it committed at least one batch. */
  runsWorked: number;
}

/**
 * A worker: repeatedly joins pending and running runs of the backfills it knows and works their free
 * partitions, so that any number of worker processes on any number of machines share the runs
 * recorded in one PostgreSQL store.
 */
export async function runWorker(input: WorkerLoopOptions): Promise<WorkerLoopResult> {
  const options = {
    ...input,
    clock: input.clock ?? systemClock,
    logger: input.logger ?? silentLogger,
    pollIntervalMs: input.pollIntervalMs ?? 1000,
  };
  const { sluice, signal, logger } = options;
  const known = new Set(options.backfills ?? sluice.backfills().map((b) => b.name));
  let current: RunHandle | undefined;
  let storeFailures = 0;
  /** When this worker last joined a fully held run of each id to try splitting it. */
  const splitTried = new Map<string, number>();
  const worked = new Set<string>();
  const leave = () => current?.leave('worker is shutting down');
  signal.addEventListener('abort', leave, { once: true });
  try {
    while (!signal.aborted) {
      let runs: RunRecord[];
      try {
        runs = (await sluice.listRuns({ states: ['pending', 'running'], limit: 100 })).filter((r) => known.has(r.backfill)).reverse();
      } catch (error) {
        // The database is down, unreachable or hung: the worker waits for it as long as it takes
        // (the pool reconnects by itself) and says so once, not at every look.
        if (!isTransientStoreError(error)) throw error;
        const retryMs = Math.min(STORE_RETRY_INTERVAL_MS, options.pollIntervalMs * ++storeFailures);
        if (storeFailures === 1)
          logger.warn(
            { err: error },
            `the store does not answer: ${messageOf(error)}; this worker works nothing until it does, and looks again every ${Math.round(STORE_RETRY_INTERVAL_MS / 1000)} s at most`,
          );
        else logger.debug({ err: error, attempt: storeFailures }, `the store still does not answer: ${messageOf(error)}`);
        await options.clock.sleep(retryMs, signal);
        continue;
      }
      if (storeFailures > 0) logger.info({ failedLooks: storeFailures }, 'the store answers again; this worker resumes');
      storeFailures = 0;
      let workedNow = false;
      for (const run of runs) {
        if (signal.aborted) break;
        try {
          if (!(await sluice.hasFreePartitions(run.id))) {
            // Every partition is held. An idle worker may still take half of the largest (a run
            // planned with fewer partitions than workers): it tries now and then, not at every
            // poll, because finding the largest partition counts rows.
            const last = splitTried.get(run.id);
            if (run.state !== 'running' || (last !== undefined && options.clock.now() - last < SPLIT_RETRY_MS)) continue;
            splitTried.set(run.id, options.clock.now());
          }
          // While its lanes are busy, the execution looks for a dead worker's partitions as often as this loop looks for work.
          current = await sluice.join(run.id, {
            ...options.joinOptions,
            actor: 'worker',
            orphanPollMs: options.pollIntervalMs,
            ...(options.concurrency ? { concurrency: options.concurrency } : {}),
          });
          options.onRun?.(current);
          let batches = 0;
          current.on('batch', () => (batches += 1));
          const outcome = await current.done;
          if (batches > 0) {
            worked.add(run.id);
            workedNow = true;
            splitTried.delete(run.id);
          }
          options.onOutcome?.(outcome);
        } catch (error) {
          // A run queued behind another with the same concurrency key is not a problem: it waits.
          if (isSluiceError(error) && error.code === 'RUN_QUEUED') logger.debug({ runId: run.id }, messageOf(error));
          else logger.warn({ runId: run.id, err: error }, `could not join run: ${messageOf(error)}`);
        } finally {
          current = undefined;
        }
      }
      if (!workedNow) {
        // Idle means no open run is left, not merely none to join now: a run whose partitions other
        // workers hold may still need this one (one of them dies, a queued run's turn comes).
        if (options.exitWhenIdle && runs.length === 0) return { idle: true, runsWorked: worked.size };
        await options.clock.sleep(options.pollIntervalMs, signal);
      }
    }
  } finally {
    signal.removeEventListener('abort', leave);
  }
  return { idle: false, runsWorked: worked.size };
}
