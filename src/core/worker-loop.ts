import type { Clock } from './clock.js';
import { isSluiceError, messageOf } from './errors.js';
import type { Logger } from './logger.js';
import type { RunHandle, RunOutcome } from './run-handle.js';
import type { Sluice } from './sluice.js';

export interface WorkerLoopOptions {
  sluice: Sluice;
  clock: Clock;
  logger: Logger;
  /** Aborting it makes the worker hand its partitions back and return. */
  signal: AbortSignal;
  /** How often to look for work when there is none. */
  pollIntervalMs: number;
  /** Only runs of these backfills (default: every registered one). */
  backfills?: readonly string[];
  /** Stop when no pending or running run of these backfills is left (tests, one-shot jobs) instead of polling forever. */
  exitWhenIdle?: boolean;
  /** Lanes this worker runs per run (default: the run's own concurrency). */
  concurrency?: number;
  onRun?(handle: RunHandle): void;
  onOutcome?(outcome: RunOutcome): void;
}

/**
 * A worker: repeatedly joins pending and running runs of the backfills it knows and works their free
 * partitions, so that any number of worker processes on any number of machines share the runs
 * recorded in one PostgreSQL store.
 */
export async function runWorker(options: WorkerLoopOptions): Promise<void> {
  const { sluice, signal, logger } = options;
  const known = new Set(options.backfills ?? sluice.backfills().map((b) => b.name));
  let current: RunHandle | undefined;
  const leave = () => current?.leave('worker is shutting down');
  signal.addEventListener('abort', leave, { once: true });
  try {
    while (!signal.aborted) {
      const runs = (await sluice.listRuns({ states: ['pending', 'running'], limit: 100 })).filter((r) => known.has(r.backfill)).reverse();
      let worked = false;
      for (const run of runs) {
        if (signal.aborted) break;
        if (!(await sluice.hasFreePartitions(run.id))) continue;
        try {
          current = await sluice.join(run.id, { actor: 'worker', ...(options.concurrency ? { concurrency: options.concurrency } : {}) });
          options.onRun?.(current);
          const outcome = await current.done;
          worked = worked || outcome.batches > run.batches;
          options.onOutcome?.(outcome);
        } catch (error) {
          // A run queued behind another with the same concurrency key is not a problem: it waits.
          if (isSluiceError(error) && error.code === 'RUN_QUEUED') logger.debug({ runId: run.id }, messageOf(error));
          else logger.warn({ runId: run.id, err: error }, `could not join run: ${messageOf(error)}`);
        } finally {
          current = undefined;
        }
      }
      if (!worked) {
        // Idle means no open run is left, not merely none to join now: a run whose partitions other
        // workers hold may still need this one (one of them dies, a queued run's turn comes).
        if (options.exitWhenIdle && runs.length === 0) return;
        await options.clock.sleep(options.pollIntervalMs, signal);
      }
    }
  } finally {
    signal.removeEventListener('abort', leave);
  }
}
