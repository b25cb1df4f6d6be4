import { type RunHandle, type RunOutcome, RunQueuedError } from '../index.js';
import { attachProgress, othersGoOn, printOutcome } from './output.js';

/**
 * Runs a handle in the foreground, to the end of the run: progress on screen (the whole run's once
 * other workers hold what is left). The first SIGINT or SIGTERM finishes the batches in flight and
 * checkpoints; then, when other workers hold partitions of the run, hands this process's back to
 * them and leaves the run running, else pauses the run. A second SIGINT exits at once (safe: every
 * checkpoint is a transaction, so at most the batches in flight are redone).
 */
export async function runInForeground(
  handle: RunHandle,
  interactive: boolean,
  extra?: (outcome: RunOutcome) => Record<string, unknown> | Promise<Record<string, unknown>>,
): Promise<RunOutcome> {
  const finishProgress = attachProgress(handle, interactive);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      // Give `process` functions that honour ctx.signal the chance to stop their side effects.
      handle.abortInFlight();
      process.stderr.write('\nstopping at once; the batches in flight will be redone on resume\n');
      process.exit(130);
    }
    handle.withdraw('signal', `received ${signal}`);
    // What the first signal does depends on who else works the run: say which, once known.
    handle.otherWorkers().then(
      (others) =>
        process.stderr.write(
          `\n${signal}: ${
            others.length === 0
              ? 'finishing the batch in flight, then pausing'
              : `finishing the batch in flight, then handing this process's partitions back: ${othersGoOn(others.length, handle.runId)}`
          }; press Ctrl-C again to stop at once\n`,
        ),
      () => process.stderr.write(`\n${signal}: finishing the batch in flight, then stopping; press Ctrl-C again to stop at once\n`),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await handle.done;
    finishProgress();
    printOutcome(outcome, interactive, await extra?.(outcome));
    return outcome;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Starts a run that a concurrency key may queue behind another: while queued, it says so once and
 * tries again every `pollMs` until the slot frees. Ctrl-C while waiting leaves the run pending (a
 * worker or a later \`sluice run\` starts it) and returns undefined.
 */
export async function startWhenSlotFree(
  start: () => Promise<RunHandle>,
  retry: (runId: string) => Promise<RunHandle>,
  options: { pollMs?: number; interactive: boolean },
): Promise<RunHandle | undefined> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  let attempt: () => Promise<RunHandle> = start;
  let announced = '';
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RunQueuedError)) throw error;
        const runId = error.runId;
        attempt = () => retry(runId);
        if (announced !== error.message) {
          announced = error.message;
          process.stderr.write(
            options.interactive
              ? `${error.message}; waiting (Ctrl-C leaves it queued)\n`
              : `${JSON.stringify({ event: 'queued', runId, behind: error.behind, reason: error.message })}\n`,
          );
        }
        const slept = await new Promise<boolean>((resolve) => {
          if (stop.signal.aborted) return resolve(false);
          const timer = setTimeout(() => resolve(true), options.pollMs ?? 1000);
          stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve(false)), { once: true });
        });
        if (!slept) {
          process.stderr.write(
            `run ${runId} stays pending (queued behind run ${error.behind}); \`sluice worker\` or \`sluice resume ${runId}\` starts it later\n`,
          );
          return undefined;
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
