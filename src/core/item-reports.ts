import type { ItemKey } from './cursor.js';
import { UsageError } from './errors.js';

/** The longest advised delay an item's retry waits for (a `Retry-After` of days is a provider's mistake). */
export const MAX_ADVISED_DELAY_MS = 3_600_000;

/** What `process` may say of single items of its batch, through `ctx.fail` and `ctx.retryLater`. */
export interface ItemOutcomes {
  /**
   * This item failed for good: it is quarantined with the error's class and message, and the
   * batch's other items go on. In a transactional backfill, only for an item `process` wrote
   * nothing for (its other writes commit).
   */
  fail(item: unknown, error: unknown): void;
  /**
   * Send this item again later: only the items reported so are retried, with the batch's backoff
   * and jitter and never sooner than `afterMs` (a provider's `Retry-After`). After the retry
   * policy's attempts it is quarantined with `error`.
   */
  retryLater(item: unknown, options?: { error?: unknown; afterMs?: number }): void;
}

export interface FailedItem {
  item: unknown;
  error: unknown;
}

export interface RetryItem {
  item: unknown;
  error: unknown;
  afterMs: number;
}

/** How one call of `process` ended for its items. */
export interface Settled {
  succeeded: unknown[];
  failed: FailedItem[];
  retry: RetryItem[];
}

/**
 * The reports of one call of `process`, by item key (the last report of an item wins). Items it
 * reported nothing of succeeded, once `process` returned.
 */
export class ItemReports implements ItemOutcomes {
  /** The call's items by key, built at the first report: a call that reports nothing keys nothing. */
  private byKey: Map<ItemKey, unknown> | undefined;
  private readonly failed = new Map<ItemKey, FailedItem>();
  private readonly retries = new Map<ItemKey, RetryItem>();

  constructor(
    private readonly items: readonly unknown[],
    private readonly keyOf: (item: unknown) => ItemKey,
  ) {}

  private get keys(): Map<ItemKey, unknown> {
    this.byKey ??= new Map(this.items.map((item) => [this.keyOf(item), item]));
    return this.byKey;
  }

  get any(): boolean {
    return this.failed.size + this.retries.size > 0;
  }

  fail(item: unknown, error: unknown): void {
    const key = this.own(item, 'fail');
    this.retries.delete(key);
    this.failed.set(key, { item: this.keys.get(key), error: error ?? new Error('ctx.fail was called without an error') });
  }

  retryLater(item: unknown, options: { error?: unknown; afterMs?: number } = {}): void {
    const key = this.own(item, 'retryLater');
    const afterMs = options.afterMs ?? 0;
    if (typeof afterMs !== 'number' || !Number.isFinite(afterMs) || afterMs < 0) {
      throw new UsageError(`ctx.retryLater: afterMs must be a number of milliseconds ≥ 0, got ${String(afterMs)}`);
    }
    this.failed.delete(key);
    this.retries.set(key, {
      item: this.keys.get(key),
      error: options.error ?? new Error('process asked to retry the item later'),
      afterMs: Math.min(afterMs, MAX_ADVISED_DELAY_MS),
    });
  }

  /** The call's items by outcome, in the batch's order. */
  settle(): Settled {
    // The common case: `process` returned and reported nothing, so every item succeeded.
    if (!this.any) return { succeeded: [...this.items], failed: [], retry: [] };
    const settled: Settled = { succeeded: [], failed: [], retry: [] };
    for (const item of this.items) {
      const key = this.keyOf(item);
      const failed = this.failed.get(key);
      const retry = this.retries.get(key);
      if (failed) settled.failed.push(failed);
      else if (retry) settled.retry.push(retry);
      else settled.succeeded.push(item);
    }
    return settled;
  }

  private own(item: unknown, method: string): ItemKey {
    const key = this.keyOf(item);
    if (!this.keys.has(key)) {
      throw new UsageError(
        `ctx.${method} was given an item that is not in this call's batch (key ${JSON.stringify(key)}); report only items of the batch process received`,
      );
    }
    return key;
  }
}
