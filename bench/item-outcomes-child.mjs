/**
 * One process of bench/item-outcomes.ts: an at-least-once backfill over the `items` table of a
 * SQLite file (also its store) that POSTs every item to a provider on loopback with its
 * idempotency key, as a user pushing history through an API writes it. Plain JavaScript over the
 * compiled package (dist/), as a service embedding Sluice runs it.
 *
 *   node bench/item-outcomes-child.mjs <db> <receiver url> <per-item|throw> <batch size> <lanes>
 *
 * `per-item`: each response settles its item (a 429 or 5xx: ctx.retryLater with the provider's
 * Retry-After; another error: ctx.fail). `throw`: what users had to write before per-item
 * outcomes: send the batch, and throw for the whole batch when any item failed.
 * Prints one JSON line at the end: the run's state, counts, time from start to done, and the time
 * its batches spent waiting to retry (the sum of the retries' delays).
 */
const { createSluice, defineBackfill, sqlKeyset } = await import(new URL('../dist/index.js', import.meta.url).href);
const { openSqliteStore } = await import(new URL('../dist/sqlite.js', import.meta.url).href);

const [path, url, mode, batchSize, lanes] = process.argv.slice(2);

class ProviderError extends Error {
  constructor(status, retryAfterMs) {
    super(`the provider answered ${status}`);
    this.name = `HTTP_${status}`;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The provider's answer for one item: undefined when it took it, or the error. */
async function send(item, ctx) {
  const response = await fetch(`${url}/items/${item.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey(item) },
    body: JSON.stringify(item),
  });
  await response.arrayBuffer();
  if (response.ok) return undefined;
  const retryAfter = Number(response.headers.get('retry-after'));
  return new ProviderError(response.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
}

const process_ = {
  async 'per-item'(batch, ctx) {
    await Promise.all(
      batch.map(async (item) => {
        const error = await send(item, ctx);
        if (!error) return;
        if (error.retryAfterMs !== undefined || error.name === 'HTTP_429' || /^HTTP_5/.test(error.name))
          ctx.retryLater(item, { error, afterMs: error.retryAfterMs });
        else ctx.fail(item, error);
      }),
    );
  },
  async throw(batch, ctx) {
    const errors = (await Promise.all(batch.map((item) => send(item, ctx)))).filter(Boolean);
    if (errors.length > 0) throw errors[0];
  },
}[mode];
if (!process_) throw new Error(`mode must be per-item or throw, got ${mode}`);

const store = await openSqliteStore(path);
const def = defineBackfill({
  name: 'push',
  source: sqlKeyset({ table: 'items', key: 'id' }),
  batchSize: Number(batchSize),
  concurrency: Number(lanes),
  // The bench counts what is sent and what stays undelivered; a run paused at the default 1 %
  // quarantined would stop the count short.
  maxFailureRatio: 1,
  process: process_,
});
const sluice = createSluice({ store, backfills: [def] });
const started = performance.now();
// After a SIGKILL, start resumes the run the killed process left (its lease's pid is gone).
const handle = await sluice.start('push');
// The time its batches spent waiting to send something again (backoff, Retry-After), summed.
let retryWaitMs = 0;
handle.on('retry', (event) => (retryWaitMs += event.delayMs));
// SLUICE_BENCH_TRACE=<file>: one line per batch and per retry, to see where a run's time goes.
const tracePath = process.env.SLUICE_BENCH_TRACE;
if (tracePath) {
  const { appendFileSync } = await import('node:fs');
  const at = () => Math.round(performance.now() - started);
  appendFileSync(tracePath, `${JSON.stringify({ t: 0, kind: 'start', mode, db: path })}\n`);
  handle.on('batch', (e) =>
    appendFileSync(tracePath, `${JSON.stringify({ t: at(), kind: 'batch', p: e.partition, size: e.size, ms: e.durationMs })}\n`),
  );
  handle.on('retry', (e) =>
    appendFileSync(tracePath, `${JSON.stringify({ t: at(), kind: 'retry', p: e.partition, delayMs: e.delayMs })}\n`),
  );
}
process.stdout.write('started\n');
const outcome = await handle.done;
const runMs = performance.now() - started;
await sluice.close();
await store.close();
process.stdout.write(`${JSON.stringify({ state: outcome.state, reason: outcome.reason, counts: outcome.counts, runMs, retryWaitMs })}\n`);
