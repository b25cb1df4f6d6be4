import type { RunHandle, RunOutcome } from '../core/run-handle.js';
import { attachProgress, printOutcome } from './output.js';

/**
 * Runs a handle in the foreground: progress on screen, and the first SIGINT or SIGTERM finishes
 * the batches in flight, checkpoints and pauses the run; a second SIGINT exits at once (safe: every
 * checkpoint is a transaction, so at most the batches in flight are redone).
 */
export async function runInForeground(handle: RunHandle, interactive: boolean, extra?: (outcome: RunOutcome) => Record<string, unknown>): Promise<RunOutcome> {
  const finishProgress = attachProgress(handle, interactive);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write('\nstopping at once; the batches in flight will be redone on resume\n');
      process.exit(130);
    }
    process.stderr.write(`\n${signal}: finishing the batch in flight, then pausing; press Ctrl-C again to stop at once\n`);
    handle.stop('signal', `received ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await handle.done;
    finishProgress();
    printOutcome(outcome, interactive, extra?.(outcome));
    return outcome;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
