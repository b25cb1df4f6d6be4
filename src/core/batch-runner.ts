import type { Clock } from './clock.js';
import type { CoalescedCheckpoint } from './coalesced-checkpoint.js';
import { type BatchTurn, EarlierBatchFailedError } from './commit-window.js';
import { type Counts, zeroCounts } from './counts.js';
import { type Cursor, normalizeItemKey, type ItemKey } from './cursor.js';
import type { BackfillDefinition, ProcessContext } from './definition.js';
import {
  BatchAbortedError,
  CheckpointMovedError,
  errorClassOf,
  isTransientStoreError,
  LeaseLostError,
  messageOf,
  PermanentError,
} from './errors.js';
import { idempotencyKeyFor } from './idempotency.js';
import { isolateFailures } from './isolate-failures.js';
import { type FailedItem, type ItemOutcomes, ItemReports, type RetryItem, type Settled } from './item-reports.js';
import { type Context, context, type Span } from '@opentelemetry/api';
import { childLogger, type Logger } from './logger.js';
import { quarantinePayload } from './payload.js';
import { canaryUse } from './rollout.js';
import { backoffDelay } from './retry.js';
import type { PartitionLease, QuarantineEntryInput, RetryPolicy, RunControl, RunParams } from './run.js';
import type { SourceBatch } from './source.js';
import type { SqlTransaction } from './sql.js';
import type { RunState } from './run-state.js';
import type { BatchCommit, CheckpointSeen, CheckpointWrite, StoreTransaction } from './store.js';
import { recordError, setAttributes, tracer } from './tracing.js';

/** Everything a batch needs that does not change between batches of a run. */
export interface BatchRunnerConfig {
  /** Batch transactions and the ledger: all a batch needs of the store. */
  store: BatchCommit;
  definition: BackfillDefinition<unknown>;
  run: { id: string; backfill: string; params: RunParams };
  retry: RetryPolicy;
  /** `--reprocess all`: deliver items the ledger already holds again, under idempotency keys of this run. */
  reprocessAll?: boolean;
  dryRun: boolean;
  leaseMs: number;
  clock: Clock;
  logger: Logger;
  onRetry(info: { partition: number; attempt: number; delayMs: number; errorClass: string; message: string }): void;
  onQuarantine(info: { partition: number; count: number; errorClass: string }): void;
}

export interface BatchInput {
  partition: number;
  /** Absent in dry runs, which hold no lease and write no checkpoint. */
  lease: PartitionLease | undefined;
  /** The cursor this batch was read from. */
  previousCursor: Cursor;
  read: SourceBatch<unknown>;
  /** When the batch was read (the clock's ms): its duration in the history runs from here to the checkpoint. */
  startedAtMs: number;
  /** The batch claimed its items from a canary's budget: its checkpoint settles the claim. */
  canary?: boolean;
  /**
   * This batch's own signal (`ctx.signal`): aborted on pause, cancel, lease loss or when the host
   * aborts the batches in flight. Its reason says which: a `BatchAbortedError`, or a
   * `LeaseLostError` for a lost lease.
   */
  signal: AbortSignal;
  /** The batch's number in its partition (1-based, counting committed batches), for logs and traces. */
  batch: number;
  /** The trace context of the run's execution: the batch span is its child. */
  traceParent?: Context;
  /**
   * `delivery: 'idempotent'`: where the batch's checkpoint waits to be written with the next ones
   * (absent: the checkpoint is written with the batch).
   */
  coalesce?: CoalescedCheckpoint;
  /**
   * Its place in its lane's commit window (at-least-once and idempotent deliveries): it writes its
   * checkpoint only after the batches before it, and frees the lane while it waits (to retry some
   * items, or for its turn). Absent: the lane runs one batch at a time.
   */
  turn?: BatchTurn;
}

/** A batch being run: its input, its span, and the last attempt `process` was called with. */
interface ActiveBatch extends BatchInput {
  span: Span;
  attempt: number;
}

export interface BatchResult {
  delta: Counts;
  control: RunControl | null;
  /** The run's state as the checkpoint saw it (null in dry runs). */
  runState: RunState | null;
  /** The partition's upper bound as the checkpoint saw it: a split may have moved it (undefined in dry runs). */
  upper?: Cursor;
  /** The run's tuning version as the checkpoint saw it (undefined in dry runs). */
  tuning?: number;
  /** The run's gradual ramp as the checkpoint saw it (undefined in dry runs). */
  rampLanes?: number | null;
}

interface Outcome {
  succeeded: unknown[];
  failed: Array<{ item: unknown; error: unknown; attempts: number }>;
  /** The attempts of `process` that failed and were tried again, by error class. */
  retries?: Record<string, number>;
}

const MAX_MESSAGE = 2000;

/**
 * One batch: skip what the ledger says was delivered, call `process` (retrying with backoff, then
 * bisecting to isolate failing items), and commit the checkpoint, ledger keys and quarantine
 * entries in one fenced transaction. For transactional backfills `process` runs inside that same
 * transaction, so its writes commit with the checkpoint or not at all.
 */
export class BatchRunner {
  constructor(private readonly config: BatchRunnerConfig) {}

  async run(input: BatchInput): Promise<BatchResult> {
    const { run } = this.config;
    return tracer.startActiveSpan('sluice.batch', {}, input.traceParent ?? context.active(), async (span) => {
      const batch: ActiveBatch = { ...input, span, attempt: 0 };
      setAttributes(span, () => ({
        'sluice.backfill': run.backfill,
        'sluice.run.id': run.id,
        'sluice.partition': input.partition,
        'sluice.batch': input.batch,
        'sluice.batch.items': input.read.items.length + input.read.malformed.length,
      }));
      try {
        const result = await this.runBatch(batch);
        setAttributes(span, () => ({
          'sluice.batch.outcome': 'committed',
          'sluice.batch.attempt': batch.attempt,
          'sluice.items.processed': result.delta.processed,
          'sluice.items.skipped': result.delta.skipped,
          'sluice.items.failed': result.delta.failed,
          'sluice.items.quarantined': result.delta.quarantined,
        }));
        return result;
      } catch (error) {
        // An aborted batch is a pause or a shutdown doing its job, not a failure.
        const aborted = error instanceof BatchAbortedError;
        setAttributes(span, () => ({
          'sluice.batch.outcome': aborted ? 'aborted' : error instanceof LeaseLostError ? 'lease_lost' : 'failed',
          'sluice.batch.attempt': batch.attempt,
        }));
        if (!aborted) recordError(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async runBatch(input: ActiveBatch): Promise<BatchResult> {
    // Aborted before `process` was called (a pause while the batch was read): do not start it.
    this.throwIfAborted(input);
    const malformed: QuarantineEntryInput[] = input.read.malformed.map((record) => ({
      itemKey: record.key,
      errorClass: record.errorClass,
      message: truncate(record.message),
      payload: record.sample,
      locator: record.locator,
      attempts: 0,
    }));
    return this.config.definition.delivery === 'transactional'
      ? this.runTransactional(input, malformed)
      : this.runAtLeastOnce(input, malformed);
  }

  // ---- at-least-once: process outside the transaction, ledger + checkpoint inside -------------
  // ---- idempotent: the same, and the checkpoint may wait to be written with the next ones -----

  private async runAtLeastOnce(input: ActiveBatch, malformed: QuarantineEntryInput[]): Promise<BatchResult> {
    const { store, definition } = this.config;
    const items = input.read.items;
    let todo = items;
    let keys: ItemKey[] | undefined;
    if (definition.dedup && items.length > 0) keys = items.map((item) => this.keyOf(item));
    if (keys && !this.config.reprocessAll) {
      const delivered = await store.deliveredKeys(definition.ledgerNamespace, keys);
      todo = firstOfEachKey(items, keys, delivered);
    }
    const outcome = await this.processWithRecovery(todo, input, undefined);
    await this.waitForTurn(input, outcome);
    const delta = this.delta(input, items.length - todo.length, outcome, malformed.length);
    if (this.config.dryRun) return this.dryResult(input, delta, outcome, malformed);

    const succeededKeys = definition.dedup ? keysOfSucceeded(items, keys!, outcome) : undefined;
    const write = this.checkpointWrite(input, delta, outcome, malformed, succeededKeys);
    if (input.coalesce) return { delta, ...(await this.coalesced(input.coalesce, write, input.canary === true)) };
    const seen = await store.transaction((tx) => tx.checkpoint(write));
    return { delta, ...seen };
  }

  /**
   * Waits until the batches before this one in its lane have committed: its checkpoint moves the
   * cursor from where theirs left it. Meanwhile the lane goes on, and the items this batch delivered
   * are recorded in the ledger first, so that a crash while it waits does not send them again.
   */
  private async waitForTurn(input: ActiveBatch, outcome: Outcome): Promise<void> {
    const { turn } = input;
    if (!turn || turn.ready) return;
    await this.recordAhead(outcome.succeeded);
    turn.free();
    try {
      await turn.wait(input.signal);
    } catch (error) {
      this.throwIfAborted(input);
      if (error instanceof EarlierBatchFailedError) throw new BatchAbortedError(this.config.run.id, input.partition, error.message);
      throw error;
    }
  }

  /**
   * Hands the batch's checkpoint to the ones waiting, and writes them when they are due. A canary's
   * batch writes at once: its checkpoint settles the items it claimed from the run's budget.
   */
  private async coalesced(coalesce: CoalescedCheckpoint, write: CheckpointWrite, canary: boolean): Promise<Omit<BatchResult, 'delta'>> {
    coalesce.add(write);
    if (!canary && !coalesce.due(this.config.clock.now())) return { control: null, runState: null };
    return (await coalesce.flush())!;
  }

  // ---- transactional: process and checkpoint in one transaction ---------------------------

  /**
   * The batch's writes are one transaction with its checkpoint. An item `process` fails is
   * quarantined and the rest commits (`process` wrote nothing for it). Items to retry later hold
   * the batch back: its transaction rolls back, and after the wait the batch runs again without the
   * failed items (nothing it wrote was kept, so nothing is written twice). A throw rolls back the
   * whole batch: retried with backoff, then bisected under savepoints.
   */
  private async runTransactional(input: ActiveBatch, malformed: QuarantineEntryInput[]): Promise<BatchResult> {
    const { store, retry, clock } = this.config;
    let lastError: unknown;
    const settled = new SettledItems();
    const failedEarlier = new Set<unknown>();
    const without = (todo: unknown[]) => (failedEarlier.size === 0 ? todo : todo.filter((item) => !failedEarlier.has(item)));
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      try {
        return await store.transaction(
          async (tx) => {
            const { todo, skipped } = await this.undelivered(tx, input.read.items);
            const pending = without(todo);
            const reports = this.reportsFor(pending);
            if (pending.length > 0) await this.config.definition.process(pending, this.context(input, attempt, tx.sql, reports));
            const call = reports.settle();
            if (call.retry.length > 0 && attempt < retry.attempts) throw new ItemsToRetry(call);
            settled.add(call, attempt);
            settled.giveUp(call.retry, attempt);
            const outcome = settled.outcome();
            const delta = this.delta(input, skipped, outcome, malformed.length);
            if (this.config.dryRun) return this.dryResult(input, delta, outcome, malformed);
            return { delta, ...(await this.checkpoint(tx, input, delta, outcome, malformed)) };
          },
          { rollback: this.config.dryRun, redoable: true },
        );
      } catch (error) {
        if (error instanceof ItemsToRetry) {
          // Its failed items stay failed; the others run again after the wait.
          settled.add({ succeeded: [], failed: error.call.failed, retry: [] }, attempt);
          for (const { item } of error.call.failed) failedEarlier.add(item);
          await this.waitToRetryItems(input, attempt, error.call.retry, settled);
          continue;
        }
        // The store's connection failed (a restart, a failover): not the items' fault. The caller
        // rides it out and resumes from the stored checkpoint; retrying and bisecting here would
        // quarantine good items.
        if (error instanceof LeaseLostError || error instanceof CheckpointMovedError || isTransientStoreError(error)) throw error;
        this.throwIfAborted(input);
        lastError = error;
        if (isPermanent(error) || attempt === retry.attempts) break;
        const delayMs = backoffDelay(retry, attempt, clock.random);
        settled.retries.add(error);
        this.retrying(input, attempt, delayMs, error);
        await clock.sleep(delayMs, input.signal);
        this.throwIfAborted(input);
      }
    }
    // The batch keeps failing: isolate the failing items under savepoints, commit the rest.
    this.throwIfAborted(input);
    return store.transaction(
      async (tx) => {
        const { todo, skipped } = await this.undelivered(tx, input.read.items);
        await this.bisect(without(todo), lastError, settled, (subset, reports) =>
          attemptOnce(() =>
            tx.savepoint(async () => {
              await this.config.definition.process([...subset], this.context(input, retry.attempts + 1, tx.sql, reports));
            }),
          ),
        );
        // Aborted while bisecting: the failures may be the abort's; quarantine nothing, commit nothing.
        this.throwIfAborted(input);
        const outcome = settled.outcome();
        const delta = this.delta(input, skipped, outcome, malformed.length);
        if (this.config.dryRun) return this.dryResult(input, delta, outcome, malformed);
        return { delta, ...(await this.checkpoint(tx, input, delta, outcome, malformed)) };
      },
      { rollback: this.config.dryRun, redoable: true },
    );
  }

  // ---- shared pieces ------------------------------------------------------------------------

  /**
   * A failure after the batch's signal fired is the abort's doing, not the items': retrying or
   * bisecting would only quarantine good items, so the batch ends uncommitted instead (a lost lease
   * ends it with the `LeaseLostError` the signal carries).
   */
  private throwIfAborted(batch: ActiveBatch): void {
    const { signal } = batch;
    if (!signal.aborted) return;
    if (signal.reason instanceof LeaseLostError || signal.reason instanceof BatchAbortedError) throw signal.reason;
    throw new BatchAbortedError(this.config.run.id, batch.partition);
  }

  private retrying(batch: ActiveBatch, attempt: number, delayMs: number, error: unknown): void {
    const info = { partition: batch.partition, attempt, delayMs, errorClass: errorClassOf(error), message: messageOf(error) };
    batch.span.addEvent('retry', { 'sluice.attempt': attempt, 'sluice.retry.delay_ms': delayMs, 'error.type': info.errorClass });
    this.config.onRetry(info);
  }

  /**
   * Calls `process` and settles each item: what it reported nothing of succeeded, what it failed
   * is quarantined, what it asked to retry later is sent again alone (backoff with jitter, never
   * sooner than the longest advised delay), up to the retry policy's attempts. A call that throws
   * fails the items it was given: they are tried again with backoff and, if they keep failing,
   * bisected to isolate the failing ones. Items that succeeded are never sent again.
   */
  private async processWithRecovery(todo: unknown[], batch: ActiveBatch, tx: SqlTransaction | undefined): Promise<Outcome> {
    if (todo.length === 0) return { succeeded: [], failed: [] };
    const { retry, clock, definition } = this.config;
    const settled = new SettledItems();
    let pending = todo;
    let lastError: unknown;
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      const reports = this.reportsFor(pending);
      const error = await attemptOnce(() => definition.process(pending, this.context(batch, attempt, tx, reports)));
      if (error === undefined) {
        const call = reports.settle();
        settled.add(call, attempt);
        if (call.retry.length === 0) return settled.outcome();
        if (attempt === retry.attempts) {
          settled.giveUp(call.retry, attempt);
          return settled.outcome();
        }
        pending = call.retry.map((r) => r.item);
        await this.recordAhead(call.succeeded);
        // The lane goes on with its next batches while this one waits (its checkpoint waits too).
        batch.turn?.free();
        await this.waitToRetryItems(batch, attempt, call.retry, settled);
        continue;
      }
      this.throwIfAborted(batch);
      lastError = error;
      if (isPermanent(error) || attempt === retry.attempts) break;
      const delayMs = backoffDelay(retry, attempt, clock.random);
      settled.retries.add(error);
      this.retrying(batch, attempt, delayMs, error);
      await clock.sleep(delayMs, batch.signal);
      this.throwIfAborted(batch);
    }
    this.throwIfAborted(batch);
    await this.bisect(pending, lastError, settled, (subset, reports) =>
      attemptOnce(() => definition.process([...subset], this.context(batch, retry.attempts + 1, tx, reports))),
    );
    // Aborted while bisecting: the failures may be the abort's. Nothing is quarantined or recorded;
    // what the subsets delivered is delivered again on resume (at least once, under the same keys).
    this.throwIfAborted(batch);
    return settled.outcome();
  }

  /**
   * Records the items a call delivered in the ledger before the batch waits to retry others: a
   * crash while it waits (a Retry-After may be long) then re-sends only the items still to retry.
   * Their counts are the checkpoint's, as ever; after such a crash they count as skipped.
   */
  private async recordAhead(delivered: readonly unknown[]): Promise<void> {
    const { definition, dryRun, run, store } = this.config;
    if (!definition.dedup || dryRun || delivered.length === 0) return;
    const keys = delivered.map((item) => this.keyOf(item));
    await store.transaction((tx) => tx.recordDelivered(run.id, { namespace: definition.ledgerNamespace, keys }));
  }

  /** The reports of one call of `process` over these items. */
  private reportsFor(items: readonly unknown[]): ItemReports {
    return new ItemReports(items, (item) => this.keyOf(item));
  }

  /**
   * Isolates the failing items of `items` (which failed as a whole with `knownFailure`) by bisection.
   * Items a call reports as failed or to retry are failed here: the retries are spent.
   */
  private async bisect(
    items: readonly unknown[],
    knownFailure: unknown,
    settled: SettledItems,
    call: (subset: readonly unknown[], reports: ItemReports) => Promise<unknown | undefined>,
  ): Promise<void> {
    const attempts = this.config.retry.attempts + 1;
    const reported: FailedItem[] = [];
    const isolated = await isolateFailures(
      items,
      async (subset) => {
        const reports = this.reportsFor(subset);
        const error = await call(subset, reports);
        if (error === undefined) {
          const outcome = reports.settle();
          reported.push(...outcome.failed, ...outcome.retry.map(({ item, error: e }) => ({ item, error: e })));
        }
        return error;
      },
      knownFailure ?? new Error('batch failed'),
    );
    const failedHere = new Set(reported.map((r) => r.item));
    settled.add(
      { succeeded: isolated.succeeded.filter((item) => !failedHere.has(item)), failed: [...isolated.failed, ...reported], retry: [] },
      attempts,
    );
  }

  /** Waits before sending the items to retry again: the backoff, or the longest delay their provider advised. */
  private async waitToRetryItems(batch: ActiveBatch, attempt: number, items: readonly RetryItem[], settled: SettledItems): Promise<void> {
    const { retry, clock } = this.config;
    const advisedMs = Math.max(0, ...items.map((r) => r.afterMs));
    const delayMs = Math.max(backoffDelay(retry, attempt, clock.random), advisedMs);
    for (const r of items) settled.retries.add(r.error);
    const first = items[0]!;
    const message = `${items.length} item${items.length === 1 ? '' : 's'} to retry${advisedMs > 0 ? ` (advised wait ${advisedMs} ms)` : ''}: ${messageOf(first.error)}`;
    this.retrying(batch, attempt, delayMs, Object.assign(new Error(message), { errorClass: errorClassOf(first.error) }));
    await clock.sleep(delayMs, batch.signal);
    this.throwIfAborted(batch);
  }

  private async undelivered(tx: StoreTransaction, items: unknown[]): Promise<{ todo: unknown[]; skipped: number }> {
    const { definition } = this.config;
    if (!definition.dedup || this.config.reprocessAll || items.length === 0) return { todo: items, skipped: 0 };
    const keys = items.map((item) => this.keyOf(item));
    const delivered = await tx.deliveredKeys(definition.ledgerNamespace, keys);
    const todo = firstOfEachKey(items, keys, delivered);
    return { todo, skipped: items.length - todo.length };
  }

  private async checkpoint(
    tx: StoreTransaction,
    input: BatchInput,
    delta: Counts,
    outcome: Outcome,
    malformed: QuarantineEntryInput[],
  ): Promise<CheckpointSeen> {
    return tx.checkpoint(this.checkpointWrite(input, delta, outcome, malformed));
  }

  private checkpointWrite(
    input: BatchInput,
    delta: Counts,
    outcome: Outcome,
    malformed: QuarantineEntryInput[],
    succeededKeys?: ItemKey[],
  ): CheckpointWrite {
    const { definition } = this.config;
    const failedEntries = this.quarantined(input, outcome, malformed);
    const ledgerKeys = definition.dedup ? (succeededKeys ?? outcome.succeeded.map((item) => this.keyOf(item))) : undefined;
    return {
      lease: input.lease!,
      previousCursor: input.previousCursor,
      cursor: input.read.cursor,
      done: input.read.done,
      delta,
      ledger: ledgerKeys && ledgerKeys.length > 0 ? { namespace: definition.ledgerNamespace, keys: ledgerKeys } : undefined,
      quarantine: failedEntries.length + malformed.length > 0 ? failedEntries.concat(malformed) : undefined,
      leaseMs: this.config.leaseMs,
      stats: {
        worker: input.lease!.owner,
        startedAtMs: input.startedAtMs,
        finishedAtMs: this.config.clock.now(),
        ...(outcome.retries ? { retries: outcome.retries } : {}),
      },
      ...(input.canary ? { canaryUsed: canaryUse(delta) } : {}),
    };
  }

  private dryResult(input: BatchInput, delta: Counts, outcome: Outcome, malformed: QuarantineEntryInput[]): BatchResult {
    this.quarantined(input, outcome, malformed);
    return { delta, control: null, runState: null };
  }

  /** The batch's quarantine entries, announced by error class (a dry run announces them too, and writes none). */
  private quarantined(input: BatchInput, outcome: Outcome, malformed: QuarantineEntryInput[]): QuarantineEntryInput[] {
    const failedEntries: QuarantineEntryInput[] = outcome.failed.map(({ item, error, attempts }) => ({
      itemKey: this.keyOf(item),
      errorClass: errorClassOf(error),
      message: truncate(messageOf(error)),
      payload: quarantinePayload(item),
      attempts,
    }));
    for (const [errorClass, count] of countByClass(failedEntries.concat(malformed))) {
      this.config.onQuarantine({ partition: input.partition, count, errorClass });
    }
    return failedEntries;
  }

  private delta(input: BatchInput, skipped: number, outcome: Outcome, malformed: number): Counts {
    const counts = zeroCounts();
    counts.received = input.read.items.length + malformed;
    counts.skipped = skipped;
    counts.processed = outcome.succeeded.length;
    counts.failed = outcome.failed.length;
    counts.quarantined = outcome.failed.length + malformed;
    return counts;
  }

  private context(batch: ActiveBatch, attempt: number, tx: SqlTransaction | undefined, reports: ItemOutcomes): ProcessContext {
    const { run, dryRun, definition } = this.config;
    const { partition, signal } = batch;
    const baseLogger = this.config.logger;
    batch.attempt = attempt;
    const bindings = { runId: run.id, backfill: run.backfill, partition, batch: batch.batch, attempt };
    // A reprocess-all run is a deliberate second delivery: its keys must differ from the first's,
    // or an idempotent target would drop every item; they stay stable across its own retries.
    const namespace = this.config.reprocessAll ? `${definition.ledgerNamespace}#${run.id}` : definition.ledgerNamespace;
    // Data properties only, in a plain literal: with a getter here (a lazy `logger`) the rows of
    // nearly every batch outlived V8's young generation (84 MB promoted on a 1,000,000-row no-op
    // run against 2 MB: bench/gc-promotion.ts), and `ctx` as a class instance did no better (19 MB
    // on 300,000 rows against 4 MB). A child logger costs about 1 µs.
    return {
      run,
      partition,
      attempt,
      dryRun,
      tx,
      signal,
      logger: childLogger(baseLogger, bindings),
      idempotencyKey: (item: unknown) => idempotencyKeyFor(namespace, this.keyOf(item)),
      fail: (item, error) => reports.fail(item, error),
      retryLater: (item, options) => reports.retryLater(item, options),
    };
  }

  private keyOf(item: unknown): ItemKey {
    return normalizeItemKey(this.config.definition.key(item), this.config.definition.name);
  }
}

/** Thrown inside a transactional batch to roll it back: items asked to be retried later. */
class ItemsToRetry extends Error {
  constructor(readonly call: Settled) {
    super(`${call.retry.length} item(s) to retry later`);
  }
}

/** The items of one batch as their calls settle them, with the attempts that failed on the way. */
class SettledItems {
  readonly retries = new FailedAttempts();
  private readonly succeeded: unknown[] = [];
  private readonly failed: Outcome['failed'] = [];

  add(call: Settled, attempts: number): void {
    this.succeeded.push(...call.succeeded);
    this.failed.push(...call.failed.map(({ item, error }) => ({ item, error, attempts })));
  }

  /** Items still to retry when the attempts are spent: quarantined with the error they last reported. */
  giveUp(items: readonly RetryItem[], attempts: number): void {
    this.failed.push(...items.map(({ item, error }) => ({ item, error, attempts })));
  }

  outcome(): Outcome {
    return { succeeded: this.succeeded, failed: this.failed, ...this.retries.record() };
  }
}

/**
 * The attempts of one batch that failed and were tried again (with backoff), by error class, kept
 * with the batch in its history so that reports count retried errors, not only quarantined ones:
 * where a later attempt succeeded they were transient; items that kept failing are quarantined too.
 */
class FailedAttempts {
  private readonly byClass: Record<string, number> = {};
  private any = false;

  add(error: unknown): void {
    const errorClass = errorClassOf(error);
    this.byClass[errorClass] = (this.byClass[errorClass] ?? 0) + 1;
    this.any = true;
  }

  /** `{ retries }` for an outcome, or nothing when no attempt failed. */
  record(): { retries?: Record<string, number> } {
    return this.any ? { retries: { ...this.byClass } } : {};
  }
}

/** Runs one attempt; returns undefined on success or the error (never undefined) it failed with. */
async function attemptOnce(work: () => unknown): Promise<unknown | undefined> {
  try {
    await work();
    return undefined;
  } catch (error) {
    if (error instanceof LeaseLostError || error instanceof CheckpointMovedError) throw error;
    return error ?? new Error(messageOf(error));
  }
}

function isPermanent(error: unknown): boolean {
  return error instanceof PermanentError || (error instanceof Error && error.name === 'PermanentError');
}

function keysOfSucceeded(items: unknown[], keys: ItemKey[], outcome: Outcome): ItemKey[] {
  if (outcome.failed.length === 0 && outcome.succeeded.length === items.length) return keys;
  const succeeded = new Set(outcome.succeeded);
  return keys.filter((_key, i) => succeeded.has(items[i]));
}

function countByClass(entries: Array<{ errorClass: string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { errorClass } of entries) counts.set(errorClass, (counts.get(errorClass) ?? 0) + 1);
  return counts;
}

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE)}…`;
}

/**
 * The items to deliver: not in the ledger, and once per key even when the source sent a key twice
 * in one batch (a firehose re-sending an event): the later copies count as skipped.
 */
function firstOfEachKey(items: unknown[], keys: readonly ItemKey[], delivered: Set<ItemKey>): unknown[] {
  if (delivered.size === 0 && new Set(keys).size === keys.length) return items;
  const seen = new Set<ItemKey>(delivered);
  const todo: unknown[] = [];
  items.forEach((item, i) => {
    const key = keys[i]!;
    if (seen.has(key)) return;
    seen.add(key);
    todo.push(item);
  });
  return todo;
}
