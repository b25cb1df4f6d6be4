import type { Cursor } from './cursor.js';
import { isSluiceError, isTransientStoreError } from './errors.js';
import { backoffDelay } from './retry.js';
import type { RetryPolicy } from './run.js';
import type { PartitionSpec, SourceBatch, SourceFilter, SourceReader } from './source.js';
import { STORE_RETRY_ATTEMPTS, STORE_RETRY_POLICY, type StoreRetryContext } from './store-retries.js';

/** Where a lane reads from, and how patient it is with a source that fails. */
export interface SourceReadContext extends StoreRetryContext {
  reader: SourceReader<unknown>;
  filter: SourceFilter;
  /** The run's retry policy: how often, and how far apart, a failed read is tried again. */
  retry: RetryPolicy;
}

/**
 * Reads a batch of `partition`, retrying transient source errors with the run's backoff policy.
 * Two kinds of patience: a source whose database connection fails (a restart, a failover) is
 * waited for as long as the store would be, without spending the run's retries; any other failure
 * spends one of them. A `SourceError` (a missing table, an unreadable file) fails at once.
 */
export async function readWithRetries(
  ctx: SourceReadContext,
  partition: { index: number; spec: PartitionSpec },
  cursor: Cursor,
  limit: number,
): Promise<SourceBatch<unknown>> {
  const { retry } = ctx;
  let connectionFailures = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.reader.read({ partition: partition.spec, cursor, limit, filter: ctx.filter });
    } catch (error) {
      // A SourceError (missing table, unreadable file) will not heal by retrying.
      if (isSluiceError(error) && error.code === 'SOURCE') throw error;
      // The database restarting or failing over: as patient as the store is, not as the run's retries.
      if (isTransientStoreError(error) && ++connectionFailures < STORE_RETRY_ATTEMPTS) {
        attempt -= 1;
        const delayMs = backoffDelay(STORE_RETRY_POLICY, connectionFailures, ctx.clock.random);
        ctx.logger.warn(
          { runId: ctx.runId, partition: partition.index, delayMs, err: error },
          "the source's database connection failed; retrying",
        );
        await ctx.clock.sleep(delayMs, ctx.signal);
        continue;
      }
      if (attempt >= retry.attempts) throw error;
      const delayMs = backoffDelay(retry, attempt, ctx.clock.random);
      ctx.logger.warn({ runId: ctx.runId, partition: partition.index, attempt, delayMs, err: error }, 'source read failed; retrying');
      await ctx.clock.sleep(delayMs, ctx.signal);
    }
  }
}
