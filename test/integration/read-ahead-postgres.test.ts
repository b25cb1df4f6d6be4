import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import type { SqlConnection } from '../../src/core/sql.js';
import { createSluice, defineBackfill, sqlKeyset } from '../../src/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/stores/postgres/index.js';
import { forwarding, TEST_PG, testSchema } from '../helpers/postgres.js';

interface Row {
  id: string;
}

/** The store's read connection, noting each source read as it starts, and how many are in flight. */
function watched(store: PostgresStore): { connection: SqlConnection; log: string[]; inFlight: () => number } {
  const inner = store.readConnection();
  const log: string[] = [];
  let reading = 0;
  return {
    log,
    inFlight: () => reading,
    connection: forwarding(inner, {
      async query(sql, params) {
        const read = /ORDER BY/.test(sql) && /LIMIT/.test(sql);
        if (!read) return inner.query(sql, params);
        reading += 1;
        log.push(sql);
        try {
          return await inner.query(sql, params);
        } finally {
          reading -= 1;
        }
      },
    }),
  };
}

async function withTable(
  rows: number,
  use: (ctx: { schema: string; admin: pg.Client; store: PostgresStore }) => Promise<void>,
): Promise<void> {
  const { schema, cleanup } = await testSchema('ahead');
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, writes int NOT NULL DEFAULT 0)`);
  await admin.query(`INSERT INTO "${schema}".items (id) SELECT generate_series(1, ${rows})`);
  const store = await openPostgresStore({ connectionString: TEST_PG, schema, poolSize: 8 });
  try {
    await use({ schema, admin, store });
  } finally {
    await store.close();
    await admin.end();
    await cleanup();
  }
}

describe('reading ahead on PostgreSQL', () => {
  it('reads the next batch while the current one is processed and committed, and processes every row once', async () => {
    await withTable(2000, async ({ schema, admin, store }) => {
      const source = watched(store);
      const readsStartedBeforeProcess: number[] = [];
      const def = defineBackfill<Row>({
        name: 'ahead',
        source: sqlKeyset({ table: `${schema}.items`, key: 'id', connection: source.connection }),
        delivery: 'transactional',
        batchSize: 100,
        async process(batch, ctx) {
          readsStartedBeforeProcess.push(source.log.length);
          await ctx.tx!.execute(`UPDATE "${schema}".items SET writes = writes + 1 WHERE id = ANY(?::bigint[])`, [
            `{${batch.map((r) => r.id).join(',')}}`,
          ]);
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('ahead')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.equal(outcome.counts.processed, 2000);
      // Batch k (from 1) is processed after k + 1 reads began: its own and the next one, read ahead.
      assert.deepEqual(
        readsStartedBeforeProcess,
        Array.from({ length: 20 }, (_, k) => Math.min(k + 2, 21)),
      );
      assert.equal(source.log.length, 21, 'one read per batch and the empty one that ends the partition: no read twice');
      const { rows } = await admin.query(`SELECT MIN(writes) AS min, MAX(writes) AS max FROM "${schema}".items`);
      assert.deepEqual(rows[0], { min: 1, max: 1 });
      await sluice.close();
    });
  });

  it('reads nothing ahead while a delay paces the batches', async () => {
    await withTable(600, async ({ schema, store }) => {
      const source = watched(store);
      const overlapped: number[] = [];
      const def = defineBackfill<Row>({
        name: 'paced',
        source: sqlKeyset({ table: `${schema}.items`, key: 'id', connection: source.connection }),
        delivery: 'transactional',
        batchSize: 100,
        throttle: { batchDelayMs: 5 },
        process: () => {
          overlapped.push(source.inFlight());
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('paced')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.deepEqual(overlapped, [0, 0, 0, 0, 0, 0], 'no read in flight while any batch is processed');
      assert.equal(source.log.length, 7);
      await sluice.close();
    });
  });

  it('still delivers every row once when an idle lane splits a partition that is reading ahead', async () => {
    await withTable(3000, async ({ schema, admin, store }) => {
      const def = defineBackfill<Row>({
        name: 'split',
        source: sqlKeyset({ table: `${schema}.items`, key: 'id' }),
        delivery: 'transactional',
        batchSize: 50,
        concurrency: 2,
        async process(batch, ctx) {
          // The upper half is slow work, so the lane of the lower half runs out first and splits it.
          if (Number(batch[0]!.id) > 1500) await new Promise((resolve) => setTimeout(resolve, 15));
          await ctx.tx!.execute(`UPDATE "${schema}".items SET writes = writes + 1 WHERE id = ANY(?::bigint[])`, [
            `{${batch.map((r) => r.id).join(',')}}`,
          ]);
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('split')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      const status = await sluice.status(outcome.runId);
      assert.ok(status.partitions.length > 2, `the idle lane split the slow partition (${status.partitions.length} partitions)`);
      const { rows } = await admin.query(`SELECT COUNT(*)::int AS n, MIN(writes) AS min, MAX(writes) AS max FROM "${schema}".items`);
      assert.deepEqual(rows[0], { n: 3000, min: 1, max: 1 });
      assert.equal(outcome.counts.processed, 3000);
      await sluice.close();
    });
  });
});
