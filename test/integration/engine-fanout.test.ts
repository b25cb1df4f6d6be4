import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSluice, defineBackfill, iterable, PermanentError, sqlKeyset } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import type { ProcessContext, Store } from '../../src/index.js';
import { tempDir, waitFor } from '../helpers/temp.js';

interface Entity {
  type: string;
  n: number;
}

/** A provider with a different number of items per entity type, paged by a numeric cursor. */
const CATALOG: Record<string, number> = { issues: 230, pulls: 120, deployments: 75 };

function providerSource() {
  return iterable<Entity>({
    from: (cursor, { child }) => {
      const total = CATALOG[child ?? ''];
      if (total === undefined) throw new Error(`unknown entity type ${child}`);
      const start = cursor === null ? 1 : Number(cursor) + 1;
      return Array.from({ length: Math.max(0, total - start + 1) }, (_, i) => ({ type: child!, n: start + i }));
    },
    cursorOf: (item) => item.n,
    count: ({ child }) => CATALOG[child ?? ''] ?? 0,
  });
}

const fastRetry = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };

describe('fan-out, concurrency keys and re-trigger modes (engine on SQLite)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let stores: Store[] = [];
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    stores = [];
    await cleanup();
  });
  const open = async (name: string) => {
    const store = await openSqliteStore(join(dir, `${name}.db`));
    stores.push(store);
    return store;
  };

  it('fans a run out per entity type, resumes each child from its own cursor, and reports results per child', async () => {
    const store = await open('fanout');
    const delivered: string[] = [];
    const def = defineBackfill<Entity>({
      name: 'provider-history',
      source: providerSource(),
      key: (e) => `${e.type}:${e.n}`,
      fanOut: { by: 'entityType', children: (params) => String(params.extra?.types ?? 'issues,pulls,deployments').split(',') },
      batchSize: 20,
      concurrency: 2,
      retry: fastRetry,
      maxFailureRatio: 1,
      process(batch) {
        for (const e of batch) {
          // One deployment is broken for good: it must be quarantined, not retried forever.
          if (e.type === 'deployments' && e.n === 40) throw new PermanentError('deployment 40 has no environment');
        }
        for (const e of batch) delivered.push(`${e.type}:${e.n}`);
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const first = await (await sluice.start('provider-history', { maxBatches: 7 })).done;
    assert.equal(first.state, 'paused', 'stopped after --max-batches, resumable');
    const resumed = await (await sluice.resume(first.runId)).done;
    assert.equal(resumed.state, 'succeeded', resumed.reason ?? '');

    const expected = Object.entries(CATALOG)
      .flatMap(([type, n]) => Array.from({ length: n }, (_, i) => `${type}:${i + 1}`))
      .filter((k) => k !== 'deployments:40');
    assert.deepEqual([...delivered].sort(), [...expected].sort(), 'every item of every child delivered once');
    assert.equal(new Set(delivered).size, delivered.length);

    const status = await sluice.status(first.runId);
    assert.deepEqual(
      status.partitions.map((p) => [p.child, p.label]),
      [
        ['issues', 'entityType=issues all items'],
        ['pulls', 'entityType=pulls all items'],
        ['deployments', 'entityType=deployments all items'],
      ],
    );
    assert.deepEqual(
      status.children?.map((c) => [c.child, c.outcome, c.counts.processed, c.counts.quarantined]),
      [
        ['issues', 'success', 230, 0],
        ['pulls', 'success', 120, 0],
        ['deployments', 'partial', 74, 1],
      ],
    );
    assert.equal(status.run.plannedItems, 425, 'the plan counts every child');
  });

  it('fans out a SQL table by a column, and refuses a fan-out source without one', async () => {
    const path = join(dir, 'fanout-sql.db');
    const db = new Database(path);
    db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)');
    const insert = db.prepare('INSERT INTO events (id, tenant) VALUES (?, ?)');
    for (let i = 1; i <= 600; i++) insert.run(i, ['acme', 'globex', 'initech'][i % 3]);
    db.close();
    const store = await openSqliteStore(path);
    stores.push(store);
    const def = defineBackfill<{ id: number; tenant: string }>({
      name: 'per-tenant',
      source: sqlKeyset({ table: 'events', key: 'id', fanOutColumn: 'tenant' }),
      fanOut: { by: 'tenant', children: ['acme', 'globex'] },
      delivery: 'transactional',
      batchSize: 50,
      concurrency: 4,
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'UPDATE events SET done = done + 1 WHERE id = ?',
          batch.map((r) => [r.id]),
        );
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('per-tenant')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    const check = new Database(path, { readonly: true });
    const rows = check.prepare('SELECT tenant, MIN(done) AS min, MAX(done) AS max FROM events GROUP BY tenant ORDER BY tenant').all();
    check.close();
    assert.deepEqual(rows, [
      { tenant: 'acme', min: 1, max: 1 },
      { tenant: 'globex', min: 1, max: 1 },
      { tenant: 'initech', min: 0, max: 0 },
    ]);
    const status = await sluice.status(outcome.runId);
    assert.equal(status.partitions.length, 4, 'each of the two children got two of the four lanes');
    assert.deepEqual(
      status.children?.map((c) => [c.child, c.outcome, c.counts.processed]),
      [
        ['acme', 'success', 200],
        ['globex', 'success', 200],
      ],
    );

    const broken = defineBackfill({
      name: 'no-column',
      source: sqlKeyset({ table: 'events', key: 'id' }),
      fanOut: { by: 'tenant', children: ['acme'] },
      process() {},
    });
    await assert.rejects(createSluice({ store, backfills: [broken] }).start('no-column'), /needs fanOutColumn/);
  });

  it('queues a second run of the same installation behind the running one, and cancels by key', async () => {
    const store = await open('keys');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const def = defineBackfill<{ n: number }>({
      name: 'installation-sync',
      source: iterable({
        from: (c) => Array.from({ length: 30 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })),
        cursorOf: (i) => i.n,
      }),
      key: (i) => i.n,
      concurrencyKeys: { installationId: { runs: 1 } },
      batchSize: 10,
      async process(batch, ctx: ProcessContext) {
        seen.push(`${String(ctx.run.params.extra?.installationId)}:${batch[0]!.n}`);
        if (ctx.run.params.extra?.installationId === '42') await gate;
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    await assert.rejects(sluice.enqueue('installation-sync'), /limits concurrency per installationId, so every run needs one/);

    const first = await sluice.start('installation-sync', { params: { installationId: '42' } });
    await waitFor(() => seen.includes('42:1'), 'the first run to be processing');
    // A plain second trigger finds the open run; an explicit new one queues behind it.
    const again = await sluice.enqueue('installation-sync', { params: { installationId: '42' } });
    assert.deepEqual([again.run.id, again.outcome], [first.runId, 'open']);
    const { run: duplicate } = await sluice.enqueue('installation-sync', { params: { installationId: '42' }, newRun: true });
    await assert.rejects(sluice.resume(duplicate.id), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'RUN_QUEUED');
      assert.match(error.message, new RegExp(`queued behind run ${first.runId}: installationId=42 has 1 running run \\(at most 1\\)`));
      return true;
    });
    const queuedStatus = await sluice.status(duplicate.id);
    assert.equal(queuedStatus.run.state, 'pending');
    assert.match(queuedStatus.queuedBehind ?? '', new RegExp(`queued behind run ${first.runId}`));
    assert.deepEqual(queuedStatus.run.keys, { installationId: '42' });

    // Another installation is not held back.
    const other = await (await sluice.start('installation-sync', { params: { installationId: '43' } })).done;
    assert.equal(other.state, 'succeeded');

    release();
    assert.equal((await first.done).state, 'succeeded');
    const second = await (await sluice.resume(duplicate.id)).done;
    assert.equal(second.state, 'succeeded', 'the queued run starts once the first has ended');

    // The installation is deleted: every open run of it is cancelled, others are left alone.
    const { run: a } = await sluice.enqueue('installation-sync', { params: { installationId: '42' }, newRun: true });
    const { run: b } = await sluice.enqueue('installation-sync', { params: { installationId: '42' }, newRun: true });
    const { run: c } = await sluice.enqueue('installation-sync', { params: { installationId: '44' } });
    const cancelled = await sluice.cancelByKey({ name: 'installationId', value: '42' }, 'ops', 'installation deleted');
    assert.deepEqual(cancelled.map((r) => r.id).sort(), [a.id, b.id].sort());
    assert.deepEqual(
      cancelled.map((r) => r.state),
      ['cancelled', 'cancelled'],
    );
    assert.equal((await sluice.status(c.id)).run.state, 'pending');
    const transitions = await store.listTransitions(a.id);
    assert.match(transitions.at(-1)!.reason, /installation deleted/);
  });

  it('keeps at most maxRunningPartitions partitions leased at once', async () => {
    const store = await open('limits');
    let inFlight = 0;
    let peak = 0;
    const def = defineBackfill<{ n: number; child: string | undefined }>({
      name: 'limited',
      source: iterable({
        from: (c, { child }) => Array.from({ length: 40 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1, child })),
        cursorOf: (i) => i.n,
      }),
      key: (i) => `${i.child}:${i.n}`,
      fanOut: { by: 'shard', children: ['a', 'b', 'c', 'd', 'e'] },
      maxRunningPartitions: 2,
      concurrency: 5,
      batchSize: 10,
      async process() {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
      },
    });
    const outcome = await (await createSluice({ store, backfills: [def] }).start('limited')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    assert.equal(outcome.counts.processed, 200);
    assert.ok(peak <= 2, `at most 2 partitions at once, saw ${peak}`);
    assert.equal(peak, 2, 'and the limit is used');
  });

  it('re-triggers: none skips what the ledger holds, all delivers everything again under new idempotency keys', async () => {
    const store = await open('reprocess');
    const deliveries: Array<{ run: string; n: number; key: string }> = [];
    const def = defineBackfill<{ n: number }>({
      name: 'webhooks',
      source: iterable({
        from: (c) => Array.from({ length: 50 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })),
        cursorOf: (i) => i.n,
      }),
      key: (i) => i.n,
      batchSize: 20,
      process(batch, ctx) {
        for (const item of batch) deliveries.push({ run: ctx.run.id, n: item.n, key: ctx.idempotencyKey(item) });
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const first = await (await sluice.start('webhooks')).done;
    const again = await (await sluice.start('webhooks', { reprocess: 'none' })).done;
    assert.deepEqual([again.counts.processed, again.counts.skipped], [0, 50], 'reprocess none delivers nothing already delivered');
    const all = await (await sluice.start('webhooks', { reprocess: 'all' })).done;
    assert.deepEqual([all.counts.processed, all.counts.skipped], [50, 0]);
    assert.equal((await store.getRun(all.runId))!.options.reprocess, 'all', 'the mode is recorded with the run');
    const firstKeys = new Set(deliveries.filter((d) => d.run === first.runId).map((d) => d.key));
    const secondKeys = deliveries.filter((d) => d.run === all.runId).map((d) => d.key);
    assert.equal(secondKeys.length, 50);
    assert.ok(
      secondKeys.every((k) => !firstKeys.has(k)),
      'a deliberate second delivery is not dropped as a duplicate by the target',
    );
  });
});
