import { MAX_BATCH_DELAY_MS, MAX_TIMER_MS } from './duration-limits.js';
import { UsageError } from './errors.js';
import type { StartOptions } from './run-handle.js';
import { isProfileName } from './throttle/knobs.js';

/** Checks the numbers and combinations of a start's (or a retune's) options before anything is planned. */
export function validateStartOptions(
  options: Pick<
    StartOptions,
    | 'batchSize'
    | 'concurrency'
    | 'maxBatches'
    | 'maxItems'
    | 'maxMemoryMb'
    | 'maxEventLoopLagMs'
    | 'batchDelayMs'
    | 'profile'
    | 'orphanPollMs'
    | 'dryRun'
  >,
): void {
  for (const name of ['batchSize', 'concurrency', 'maxBatches', 'maxItems', 'maxMemoryMb', 'maxEventLoopLagMs'] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      throw new UsageError(`${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (options.batchSize !== undefined && options.batchSize > 100_000)
    throw new UsageError(`batchSize must be at most 100000, got ${options.batchSize}`);
  if (options.concurrency !== undefined && options.concurrency > 256)
    throw new UsageError(`concurrency must be at most 256, got ${options.concurrency}`);
  if (options.batchDelayMs !== undefined && (!Number.isFinite(options.batchDelayMs) || options.batchDelayMs < 0))
    throw new UsageError(`batchDelayMs must be a number of ms ≥ 0, got ${String(options.batchDelayMs)}`);
  if (options.batchDelayMs !== undefined && options.batchDelayMs > MAX_BATCH_DELAY_MS)
    throw new UsageError(`batchDelayMs must be at most ${MAX_BATCH_DELAY_MS} (1h), got ${options.batchDelayMs}`, {
      hint: 'for a longer stop, pause the run and resume it later',
    });
  if (options.orphanPollMs !== undefined && options.orphanPollMs > MAX_TIMER_MS)
    throw new UsageError(`orphanPollMs must be at most ${MAX_TIMER_MS} (the longest a timer can wait), got ${options.orphanPollMs}`);
  if (options.orphanPollMs !== undefined && (!Number.isFinite(options.orphanPollMs) || options.orphanPollMs < 10))
    throw new UsageError(`orphanPollMs must be a number of ms ≥ 10, got ${String(options.orphanPollMs)}`);
  if (options.maxItems !== undefined && options.dryRun)
    throw new UsageError('maxItems (a canary) runs a real slice of the backfill and a dry run records nothing: drop one of them');
  if (options.profile !== undefined && !isProfileName(options.profile))
    throw new UsageError(`profile must be background, moderate or fast, got ${String(options.profile)}`);
}

/**
 * Whether a start that finds the backfill's latest run with its parameters succeeded reports that
 * instead of creating a run: unless it names a window (`since`: new items since then) or a
 * re-trigger mode (`reprocess`), both of which ask for a new run.
 */
export function reportsSuccess(options: StartOptions): boolean {
  return options.since === undefined && options.reprocess === undefined;
}

/** The named properties of `object` that are set. */
export function pick<T extends object, K extends keyof T>(object: T, names: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const name of names) if (object[name] !== undefined) out[name] = object[name];
  return out;
}
