/**
 * Writing a batch back through the batch transaction on PostgreSQL: row by row (`executeMany`, one
 * UPDATE per row) against set-based (one `UPDATE … FROM unnest($1::bigint[], $2::int[])` per batch),
 * the same transactional backfill over the same table, interleaved in the same run.
 *
 *   node --import tsx bench/set-based-write.ts [--rows 20000] [--batch-size 1000] [--runs 5]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset, type SqlTransaction } from '../src/index.js';
import { openPostgresStore } from '../src/postgres.js';
import { interleaved, printTable } from './report.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    'batch-size': { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const rows = Number(values.rows);
const batchSize = Number(values['batch-size']);
const runs = Number(values.runs);
const url = values.pg!;

interface Item {
  id: number;
  value: number;
}
const score = (item: Item) => (item.value * 7) % 1000;

const schema = `sluice_bench_set_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
await admin.query(`CREATE TABLE ${schema}.items (id bigint PRIMARY KEY, value int NOT NULL, score int)`);
await admin.query(`INSERT INTO ${schema}.items SELECT g, g FROM generate_series(1, ${rows}) g`);
await admin.query(`VACUUM ANALYZE ${schema}.items`);
const store = await openPostgresStore({ connectionString: url, schema, searchPath: schema });

let round = 0;
/** One transactional run over the whole table, each batch written back by `write`; returns its ms. */
async function measure(write: (batch: Item[], tx: SqlTransaction) => Promise<unknown>): Promise<number> {
  await admin.query(`UPDATE ${schema}.items SET score = NULL`);
  const name = `set-based-${++round}`;
  const def = defineBackfill<Item>({
    name,
    source: sqlKeyset({ table: 'items', key: 'id', columns: ['id', 'value'] }),
    delivery: 'transactional',
    batchSize,
    async process(batch, ctx) {
      await write(batch, ctx.tx);
    },
  });
  const started = performance.now();
  const outcome = await (await createSluice({ store, backfills: [def] }).start(name)).done;
  const ms = performance.now() - started;
  const {
    rows: [check],
  } = await admin.query(`SELECT count(score)::int AS n FROM ${schema}.items`);
  if (outcome.state !== 'succeeded' || check.n !== rows) throw new Error(`${name}: ${outcome.state}, ${check.n} of ${rows} rows written`);
  return ms;
}

try {
  const results = await interleaved(
    runs,
    rows,
    {
      name: 'row by row: executeMany(UPDATE … WHERE id = $2), one statement per row',
      measure: () =>
        measure((batch, tx) =>
          tx.executeMany(
            'UPDATE items SET score = $1 WHERE id = $2',
            batch.map((i) => [score(i), i.id]),
          ),
        ),
    },
    {
      name: 'set-based: one UPDATE … FROM unnest($1::bigint[], $2::int[]) per batch',
      measure: () =>
        measure((batch, tx) =>
          tx.execute('UPDATE items SET score = u.score FROM unnest($1::bigint[], $2::int[]) AS u(id, score) WHERE items.id = u.id', [
            batch.map((i) => i.id),
            batch.map(score),
          ]),
        ),
    },
  );
  printTable(
    `Writing the batch back through ctx.tx, PostgreSQL, ${rows.toLocaleString('en-US')} rows, batch size ${batchSize}, median of ${runs}`,
    results,
  );
} finally {
  await store.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
