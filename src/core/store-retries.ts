import type { Clock } from './clock.js';
import { isTransientStoreError } from './errors.js';
import type { Logger } from './logger.js';
import { backoffDelay } from './retry.js';

/**
 * Attempts at a store operation through connection trouble before the partition fails: with
 * backoff from 250 ms to 5 s, 15-28 s of patience, enough for a database restart or a failover.
 */
export const STORE_RETRY_ATTEMPTS = 10;
export const STORE_RETRY_POLICY = { attempts: STORE_RETRY_ATTEMPTS, baseDelayMs: 250, maxDelayMs: 5000 };

/** What a run's store retries need: whose run they log for, the clock they wait on, and what cuts the waits short. */
export interface StoreRetryContext {
  runId: string;
  clock: Clock;
  logger: Logger;
  /** Aborted when the host aborts the run's batches in flight: ends a wait between attempts at once. */
  signal: AbortSignal;
}

/** Retries a store operation through connection trouble (a dropped connection, a restarting server). */
export async function withStoreRetries<T>(ctx: StoreRetryContext, what: string, operation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransientStoreError(error) || attempt >= STORE_RETRY_ATTEMPTS) throw error;
      const delayMs = backoffDelay(STORE_RETRY_POLICY, attempt, ctx.clock.random);
      ctx.logger.warn({ runId: ctx.runId, attempt, delayMs, err: error }, `could not ${what}: the store's connection failed; retrying`);
      await ctx.clock.sleep(delayMs, ctx.signal);
    }
  }
}
