import { normalizeItemKey } from './cursor.js';
import type { BackfillDefinition, ProcessContext } from './definition.js';
import { errorClassOf, LeaseLostError, messageOf } from './errors.js';
import { idempotencyKeyFor } from './idempotency.js';
import { isolateFailures } from './isolate-failures.js';
import { ItemReports } from './item-reports.js';
import { childLogger, type Logger } from './logger.js';
import type { QuarantineRecord, RunRecord } from './run.js';
import type { ReplayResult } from './sluice.js';
import type { ReplayRequest, SourceReader } from './source.js';
import type { SqlTransaction } from './sql.js';
import type { BatchCommit, QuarantineReads, StoreDatabase } from './store.js';

interface ReplayOptions {
  store: StoreDatabase & QuarantineReads & BatchCommit;
  definition: BackfillDefinition<unknown>;
  run: RunRecord;
  logger: Logger;
  errorClass?: string;
  ids?: readonly number[];
  actor?: string;
}

interface Resolved {
  entry: QuarantineRecord;
  item?: unknown;
  error?: { errorClass: string; message: string };
}

/**
 * Processes a run's open quarantine entries again, after the user fixed the cause. Items come from
 * the source (`refetch`, fresh data) when it can, else from the stored payload. Successes leave
 * quarantine and count as processed; failures stay, with the new error and one more attempt.
 */
export async function replayQuarantine(options: ReplayOptions): Promise<ReplayResult> {
  const { store, definition, run } = options;
  const entries = await openEntries(options);
  const result: ReplayResult = { runId: run.id, attempted: entries.length, replayed: 0, stillFailing: 0 };
  if (entries.length === 0) return result;
  const reader = await definition.source.open({ storeConnection: store.readConnection() });
  try {
    const size = Math.max(1, run.options.batchSize);
    for (let start = 0; start < entries.length; start += size) {
      const chunk = await resolve(reader, entries.slice(start, start + size));
      const { replayed, failed } = await replayChunk(options, chunk);
      result.replayed += replayed;
      result.stillFailing += failed;
    }
  } finally {
    await reader.close().catch(() => undefined);
  }
  options.logger.info({ ...result, actor: options.actor ?? 'api' }, 'quarantine replayed');
  return result;
}

async function openEntries({ store, run, errorClass, ids }: ReplayOptions): Promise<QuarantineRecord[]> {
  const entries: QuarantineRecord[] = [];
  let afterId = 0;
  for (;;) {
    const page = await store.listQuarantine({ runId: run.id, status: 'open', errorClass, limit: 1000, afterId });
    entries.push(...page);
    if (page.length < 1000) break;
    afterId = page[page.length - 1]!.id;
  }
  if (!ids) return entries;
  const wanted = new Set(ids);
  return entries.filter((e) => wanted.has(e.id));
}

async function resolve(reader: SourceReader<unknown>, entries: QuarantineRecord[]): Promise<Resolved[]> {
  if (reader.refetch) {
    const requests: ReplayRequest[] = entries.map((e) => ({ key: e.itemKey, payload: parsePayload(e.payload), locator: e.locator }));
    const fetched = await reader.refetch(requests);
    const byKey = new Map(fetched.map((f) => [f.key, f]));
    return entries.map((entry) => {
      const found = byKey.get(entry.itemKey);
      if (found?.item !== undefined) return { entry, item: found.item };
      return { entry, error: found?.error ?? { errorClass: 'NOT_FOUND', message: 'the source no longer has this item' } };
    });
  }
  return entries.map((entry) => {
    const payload = parsePayload(entry.payload);
    return payload === undefined
      ? { entry, error: { errorClass: 'NO_PAYLOAD', message: 'no complete payload was stored and the source cannot refetch items' } }
      : { entry, item: payload };
  });
}

async function replayChunk(options: ReplayOptions, chunk: Resolved[]): Promise<{ replayed: number; failed: number }> {
  const { store, definition, run } = options;
  const ready = chunk.filter((r) => r.item !== undefined);
  const unresolved = chunk.filter((r) => r.item === undefined);
  const keyOf = (r: Resolved) => normalizeItemKey(definition.key(r.item), definition.name);
  const itemKey = (item: unknown) => normalizeItemKey(definition.key(item), definition.name);
  const context = (tx: SqlTransaction | undefined, r: Resolved, reports: ItemReports): ProcessContext => ({
    run: { id: run.id, backfill: run.backfill, params: run.params },
    partition: r.entry.partitionIndex ?? 0,
    attempt: r.entry.attempts + 1,
    dryRun: false,
    tx,
    signal: new AbortController().signal,
    logger: childLogger(options.logger, { runId: run.id, backfill: run.backfill, partition: r.entry.partitionIndex ?? 0, replay: true }),
    idempotencyKey: (item: unknown) => idempotencyKeyFor(definition.ledgerNamespace, itemKey(item)),
    fail: (item, error) => reports.fail(item, error),
    retryLater: (item, options) => reports.retryLater(item, options),
  });
  const attempt = (tx: SqlTransaction | undefined) => async (subset: readonly Resolved[]) => {
    try {
      const items = subset.map((r) => r.item);
      const reports = new ItemReports(items, itemKey);
      await definition.process(items, context(tx, subset[0]!, reports));
      // A replay is the item's last attempt: an item reported failed or to retry stays quarantined.
      // Bisection narrows a subset with such an item down to it.
      const { failed, retry } = reports.settle();
      const reported = failed[0] ?? retry[0];
      return reported === undefined ? undefined : reported.error;
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      return error ?? new Error('process failed');
    }
  };

  return store.transaction(async (tx) => {
    let todo = ready;
    let alreadyDelivered: Resolved[] = [];
    if (definition.dedup && ready.length > 0) {
      const delivered = await tx.deliveredKeys(definition.ledgerNamespace, ready.map(keyOf));
      alreadyDelivered = ready.filter((r) => delivered.has(keyOf(r)));
      todo = ready.filter((r) => !delivered.has(keyOf(r)));
    }
    const isolated =
      definition.delivery === 'transactional'
        ? await isolateFailures(todo, (subset) =>
            tx
              .savepoint(() => attempt(tx.sql)(subset).then(rethrow))
              .then(
                () => undefined,
                (e: unknown) => e,
              ),
          )
        : await isolateFailures(todo, attempt(undefined));
    const succeeded = [...alreadyDelivered, ...isolated.succeeded];
    await tx.markReplayed(
      run.id,
      succeeded.map((r) => r.entry.id),
      definition.dedup && isolated.succeeded.length > 0
        ? { namespace: definition.ledgerNamespace, keys: isolated.succeeded.map(keyOf) }
        : undefined,
    );
    for (const { item, error } of isolated.failed) {
      await tx.recordReplayFailure(item.entry.id, errorClassOf(error), messageOf(error));
    }
    for (const r of unresolved) await tx.recordReplayFailure(r.entry.id, r.error!.errorClass, r.error!.message);
    return { replayed: succeeded.length, failed: isolated.failed.length + unresolved.length };
  });
}

/** Inside a savepoint the failure must be thrown (to roll back), then turned back into a value. */
function rethrow(error: unknown): void {
  if (error !== undefined) throw error;
}

function parsePayload(payload: string | null): unknown {
  if (payload === null) return undefined;
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}
