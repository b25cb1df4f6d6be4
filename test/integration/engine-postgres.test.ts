import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset } from '../../src/index.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';

interface Row { id: number; value: number }

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
          await ctx.tx!.executeMany('UPDATE items SET result = ?, writes = writes + 1 WHERE id = ?', batch.map((r) => [r.value * 2, r.id]));
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
      const { rows } = await admin.query(`SELECT COUNT(*)::int AS n, COUNT(result)::int AS scored, MAX(writes) AS max, MIN(writes) FILTER (WHERE id >= 1440) AS min
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
});
