/**
 * The longest wait a Node timer can hold: `setTimeout` turns anything above 2^31 − 1 ms (about
 * 24.8 days) into 1 ms, with only a warning. Every duration Sluice waits on is refused above it at
 * the edge, so that a typo like `--batch-delay 30d` never becomes a run with no delay at all.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The longest pause after a batch: one hour, the same bound for a definition, the environment,
 * the command line and the admin API. A longer pause is a paused run (`pause`), not a throttle.
 */
export const MAX_BATCH_DELAY_MS = 3_600_000;
