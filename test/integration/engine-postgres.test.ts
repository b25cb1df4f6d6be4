import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { type Clock, createSluice, defineBackfill, sqlKeyset } from '../../src/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';

interface Row {
  id: number;
  value: number;
}

describe('engine on PostgreSQL', () => {
  it('transactional backfill over a PostgreSQL table: writes and checkpoints commit together, concurrently', async () => {
    const { schema, cleanup } = await testSchema('engine');
    const admin = new pg.Client({ connectionString: TEST_PG });
    await admin.connect();
    await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, value int NOT NULL, created_at timestamptz NOT NULL,
      result int, writes int NOT NULL DEFAULT 0)`);
    await admin.query(`INSERT INTO "${schema}".items (id, value, created_at)
      SELECT i, i * 3, timestamptz '2026-01-01' + i * interval '1 minute' FROM generate_series(1, 6000) AS i`);
    const store = await openPostgresStore({ connectionString: TEST_PG, schema, searchPath: schema });
    try {
      let failOnce = true;
      const def = defineBackfill<Row>({
        name: 'pg-score',
        source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL', sinceColumn: 'created_at', columns: ['id', 'value'] }),
        delivery: 'transactional',
        batchSize: 250,
        concurrency: 3,
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
        async process(batch, ctx) {
          await ctx.tx!.executeMany(
            'UPDATE items SET result = ?, writes = writes + 1 WHERE id = ?',
            batch.map((r) => [r.value * 2, r.id]),
          );
          if (failOnce && batch.some((r) => Number(r.id) === 3001)) {
            failOnce = false;
            throw new Error('transient');
          }
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('pg-score', { since: '2026-01-02T00:00:00Z' })).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      // 1440 minutes of the first day are before `since` (ids 1..1439 fall before midnight of the 2nd).
      assert.equal(outcome.counts.processed, 6000 - 1439);
      const { rows } =
        await admin.query(`SELECT COUNT(*)::int AS n, COUNT(result)::int AS scored, MAX(writes) AS max, MIN(writes) FILTER (WHERE id >= 1440) AS min
        FROM "${schema}".items`);
      assert.deepEqual(rows[0], { n: 6000, scored: 6000 - 1439, max: 1, min: 1 });
      const status = await sluice.status(outcome.runId);
      assert.equal(status.partitions.length, 3);
      assert.ok(status.partitions.every((p) => p.state === 'done'));
    } finally {
      await store.close();
      await admin.end();
      await cleanup();
    }
  });

  it("judges leases by the database's clock, not by a process clock hours off it", async () => {
    const { schema, cleanup } = await testSchema('skew');
    const admin = new pg.Client({ connectionString: TEST_PG });
    await admin.connect();
    await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY)`);
    await admin.query(`INSERT INTO "${schema}".items (id) SELECT generate_series(1, 10)`);
    const store = await openPostgresStore({ connectionString: TEST_PG, schema, searchPath: schema });
    const def = defineBackfill<{ id: number }>({
      name: 'skewed',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      concurrency: 1,
      process: async () => {},
    });
    const skewed = (offsetMs: number): Clock => ({ ...systemClock, now: () => Date.now() + offsetMs });
    const threeHours = 3 * 3600_000;
    try {
      const ahead = createSluice({ store, backfills: [def], clock: skewed(threeHours) });
      const behind = createSluice({ store, backfills: [def], clock: skewed(-threeHours) });
      const { run } = await ahead.enqueue('skewed');
      await store.transitionRun(run.id, ['pending'], 'running', 'test', 'a worker on another machine runs it');
      // A dead worker's lease has expired (by the database's clock): it is free, however far behind this process is.
      await store.claimPartition(run.id, 'otherhost:1:dead', -1);
      assert.equal(await behind.hasFreePartitions(run.id), true, 'an expired lease is free');
      assert.equal((await behind.status(run.id)).active, false);
      // A live worker holds it for a minute: not free, and the run is executing, however far ahead this process is.
      await store.claimPartition(run.id, 'otherhost:2:alive', 60_000);
      assert.equal(await ahead.hasFreePartitions(run.id), false, 'a live lease is not free');
      assert.equal((await ahead.status(run.id)).active, true);
      const paused = await ahead.pause(run.id, 'op', 'maintenance');
      assert.equal(paused.state, 'running', 'the live worker is asked to pause at its next batch');
      assert.equal(paused.control?.kind, 'pause');
    } finally {
      await store.close();
      await admin.end();
      await cleanup();
    }
  });
});
