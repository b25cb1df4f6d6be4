import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import type { SqlConnection, SqlSnapshot } from '../../src/core/sql.js';
import { createSluice, defineBackfill, sqlKeyset } from '../../src/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/stores/postgres/index.js';
import { forwarding, TEST_PG, testSchema } from '../helpers/postgres.js';

interface Row {
  id: string;
}

/** The store's read connection, whose snapshots run their queries only once `open()` is called. */
function heldSnapshots(store: PostgresStore): { connection: SqlConnection; open: () => void; snapshots: () => number } {
  const inner = store.readConnection();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let taken = 0;
  return {
    open,
    snapshots: () => taken,
    connection: forwarding(inner, {
      async snapshot(): Promise<SqlSnapshot> {
        const real = await inner.snapshot();
        taken += 1;
        return {
          query: async (sql, params) => {
            await gate;
            return real.query(sql, params);
          },
          release: (abort) => real.release(abort),
        };
      },
    }),
  };
}

/** Rejects after `ms`: a run that waited for its count would never get to the batches the test waits for. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function withTable(use: (ctx: { schema: string; admin: pg.Client; store: PostgresStore }) => Promise<void>): Promise<void> {
  const { schema, cleanup } = await testSchema('beside');
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, done boolean NOT NULL DEFAULT false)`);
  await admin.query(`INSERT INTO "${schema}".items (id) SELECT generate_series(1, 3000)`);
  const store = await openPostgresStore({ connectionString: TEST_PG, schema, poolSize: 6 });
  try {
    await use({ schema, admin, store });
  } finally {
    await store.close();
    await admin.end();
    await cleanup();
  }
}

const definition = (schema: string, connection: SqlConnection) =>
  defineBackfill<Row>({
    name: 'beside',
    // The run's own writes make rows stop matching: a count taken after them would come up short.
    source: sqlKeyset({ table: `${schema}.items`, key: 'id', where: 'NOT done', connection }),
    delivery: 'transactional',
    batchSize: 100,
    async process(batch, ctx) {
      await ctx.tx!.execute(`UPDATE "${schema}".items SET done = true WHERE id = ANY(?::bigint[])`, [
        `{${batch.map((r) => r.id).join(',')}}`,
      ]);
    },
  });

describe('counting the planned items beside the run on PostgreSQL', () => {
  it('starts the batches before the count ends, and counts the rows as they were when the run started', async () => {
    await withTable(async ({ schema, store }) => {
      const source = heldSnapshots(store);
      const sluice = createSluice({ store, backfills: [definition(schema, source.connection)] });
      const handle = await within(10_000, 'the run started', sluice.start('beside'));
      const totals: Array<number | null> = [];
      handle.on('progress', (p) => totals.push(p.plannedItems));
      let batches = 0;
      await within(
        20_000,
        'five batches committed while the count was held',
        new Promise<void>((resolve) => {
          handle.on('batch', () => {
            if (++batches === 5) resolve();
          });
        }),
      );
      assert.equal(source.snapshots(), 1);
      assert.equal((await store.getRun(handle.runId))!.plannedItems, null, 'no total while the count runs');
      source.open();
      const outcome = await handle.done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.equal(outcome.counts.processed, 3000);
      // 500 rows were done (and no longer matched `NOT done`) before the count ran: it saw all 3,000.
      assert.equal((await store.getRun(handle.runId))!.plannedItems, 3000);
      assert.equal(totals.at(-1), 3000, 'progress has the total once it is counted');
      await sluice.close();
    });
  });

  it('gives up a count still running when the engine closes', async () => {
    await withTable(async ({ schema, store }) => {
      const source = heldSnapshots(store);
      const sluice = createSluice({ store, backfills: [definition(schema, source.connection)] });
      const handle = await sluice.start('beside');
      await new Promise<void>((resolve) => handle.on('batch', () => resolve()));
      // The count is held for ever: closing must not wait for it.
      await within(10_000, 'the engine closed', sluice.close());
      assert.equal((await handle.done).state, 'paused');
      assert.equal((await store.getRun(handle.runId))!.plannedItems, null);
      source.open();
    });
  });
});
