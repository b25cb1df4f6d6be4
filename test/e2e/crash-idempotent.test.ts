import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { killAndFinish, sqliteOrders } from '../helpers/crash.js';
import { itemsTable } from '../helpers/items-table.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
/** The config lives in a temporary directory, where 'pg' does not resolve: import it by its path. */
const PG = pathToFileURL(createRequire(import.meta.url).resolve('pg')).href;
const ROWS = 30_000;
const BATCH = 300;
/** A checkpoint every 5 batches (the time limit is out of reach): a crash repeats at most 5 batches per lane. */
const EVERY_BATCHES = 5;

describe("crash and restart, delivery: 'idempotent' (coalesced checkpoints)", () => {
  it('SQLite: after SIGKILLs every item is written, and each kill repeats at most checkpointEvery.batches batches', async (t) => {
    const { dir, cleanup } = await tempDir();
    try {
      const db = join(dir, 's.db');
      sqliteOrders(db, ROWS);
      // The target: an append-only file, so that every write, repeats included, can be counted.
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { appendFileSync } from 'node:fs';
import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: number; total: number }>({
    name: 'mirror-orders',
    source: sqlKeyset({ table: 'orders', key: 'id' }),
    delivery: 'idempotent',
    checkpointEvery: { batches: ${EVERY_BATCHES}, ms: 600000 },
    batchSize: ${BATCH},
    async process(orders) {
      appendFileSync('sink.log', orders.map((o) => 'order ' + o.id).join('\\n') + '\\n');
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
  }),
];
`,
      );
      const kills = await killAndFinish(['run', 'mirror-orders', '--db', db], { cwd: dir });
      // A SIGKILL can tear the line being appended: whole records only.
      const ids = [...readFileSync(join(dir, 'sink.log'), 'utf8').matchAll(/order (\d+)\n/g)].map((m) => Number(m[1]));
      assert.equal(new Set(ids).size, ROWS, 'every order written');
      const repeats = ids.length - ROWS;
      t.diagnostic(`${kills} kills, ${repeats} items written twice`);
      assert.ok(
        repeats <= kills * EVERY_BATCHES * BATCH,
        `${repeats} repeats after ${kills} kills (at most ${EVERY_BATCHES} batches each)`,
      );
      const store = new Database(db, { readonly: true });
      const ledger = (store.prepare('SELECT COUNT(*) AS n FROM sluice_ledger').get() as { n: number }).n;
      const history = store.prepare('SELECT COUNT(*) AS n, SUM(processed) AS processed FROM sluice_batches').get() as {
        n: number;
        processed: number;
      };
      store.close();
      assert.equal(ledger, 0, 'no ledger rows without dedup');
      assert.ok(history.n <= ROWS / BATCH / EVERY_BATCHES + 2 * kills + 1, `${history.n} checkpoints for ${ROWS / BATCH} batches`);
    } finally {
      await cleanup();
    }
  });

  it('PostgreSQL: after SIGKILLs every row is written, and each kill repeats at most checkpointEvery.batches batches', async (t) => {
    const table = await itemsTable('crashidem', ROWS);
    try {
      // The write is idempotent in effect (result = value * 2); `writes` counts its repeats.
      writeFileSync(
        table.configPath,
        `import pg from '${PG}';
import { defineBackfill, sqlKeyset } from '${SLUICE}';
const pool = new pg.Pool({ connectionString: ${JSON.stringify(process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test')}, max: 2 });
export default [
  defineBackfill<{ id: string; value: number }>({
    name: 'pgidem',
    source: sqlKeyset({ table: '${table.schema}.items', key: 'id', columns: ['id', 'value'] }),
    delivery: 'idempotent',
    checkpointEvery: { batches: ${EVERY_BATCHES}, ms: 600000 },
    batchSize: ${BATCH},
    async process(batch) {
      await pool.query('UPDATE "${table.schema}".items SET result = value * 2, writes = writes + 1 WHERE id = ANY($1::bigint[])', [batch.map((r) => r.id)]);
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
  }),
];
`,
      );
      const kills = await killAndFinish(table.args('run', 'pgidem'), { cwd: table.dir, env: table.env });
      const {
        rows: [r],
      } = await table.admin.query(
        `SELECT COUNT(result)::int AS scored, MIN(writes) AS min, SUM(writes)::int AS writes FROM "${table.schema}".items`,
      );
      assert.equal(r.scored, ROWS, 'every row written');
      assert.equal(r.min, 1);
      const repeats = r.writes - ROWS;
      t.diagnostic(`${kills} kills, ${repeats} rows written twice`);
      assert.ok(
        repeats <= kills * EVERY_BATCHES * BATCH,
        `${repeats} repeats after ${kills} kills (at most ${EVERY_BATCHES} batches each)`,
      );
      const {
        rows: [h],
      } = await table.admin.query(`SELECT COUNT(*)::int AS n FROM "${table.schema}".sluice_batches`);
      assert.ok(h.n <= ROWS / BATCH / EVERY_BATCHES + 2 * kills + 1, `${h.n} checkpoints for ${ROWS / BATCH} batches`);
    } finally {
      await table.cleanup();
    }
  });
});
