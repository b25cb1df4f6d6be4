/**
 * A real backfill on PostgreSQL: a `risk_score` computed in JavaScript for every row of a table and
 * written back, with a checkpoint per batch. Sluice (transactional: the UPDATE and the checkpoint in
 * one transaction) at several concurrencies, against the hand-written keyset loop on one connection
 * and its parallel version (one connection per key range), all with the same batch size and the
 * same UPDATE … FROM unnest(…) per batch, in the same run.
 *
 *   node --import tsx bench/real-backfill-postgres.ts [--rows 1000000] [--batch-size 1000] [--runs 3] [--concurrency 1,2,4]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset } from '../src/index.js';
import { openPostgresStore } from '../src/stores/postgres/index.js';
import { median, printTable, type BenchResult } from './report.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'batch-size': { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,2,4' },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const rows = Number(values.rows);
const batchSize = Number(values['batch-size']);
const runs = Number(values.runs);
const lanes = values.concurrency!.split(',').map(Number);
const url = values.pg!;

interface Row { id: number; sender: string; subject: string; links: number }

/** The work: the same scoring in every variant. */
function score(row: Row): number {
  let s = row.sender.endsWith('.biz') ? 0.4 : 0;
  if (/urgent|verify|password/i.test(row.subject)) s += 0.3;
  return Math.min(1, s + row.links * 0.05);
}

const UPDATE = (table: string) => `UPDATE ${table} AS t SET risk_score = v.s FROM unnest($1::bigint[], $2::real[]) AS v(id, s) WHERE t.id = v.id`;

async function setup(schema: string): Promise<string> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const table = `${schema}.emails`;
  await admin.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, sender text NOT NULL, subject text NOT NULL, links int NOT NULL, risk_score real)`);
  await admin.query(`INSERT INTO ${table} SELECT g, CASE WHEN g % 7 = 0 THEN 'x@promo.biz' ELSE 'a@example.com' END,
      CASE WHEN g % 5 = 0 THEN 'URGENT: verify' ELSE 'weekly report' END, g % 9 FROM generate_series(1, ${rows}) g`);
  await admin.query(`CREATE TABLE ${schema}.checkpoints (range_id int PRIMARY KEY, cursor bigint NOT NULL, processed bigint NOT NULL)`);
  await admin.query(`VACUUM ANALYZE ${table}`);
  await admin.end();
  return table;
}

async function reset(schema: string, table: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`UPDATE ${table} SET risk_score = NULL`);
  await admin.query(`TRUNCATE ${schema}.checkpoints`);
  await admin.query(`DROP SCHEMA IF EXISTS ${schema}_sluice CASCADE`);
  await admin.query(`VACUUM ${table}`);
  await admin.end();
}

/** The hand-written loop over ids in (lower, upper]: keyset read, score, UPDATE, checkpoint, one transaction per batch. */
async function loop(schema: string, table: string, rangeId: number, lower: number, upper: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`INSERT INTO ${schema}.checkpoints VALUES ($1, $2, 0)`, [rangeId, lower]);
  let cursor = lower;
  let total = 0;
  for (;;) {
    await client.query('BEGIN');
    const { rows: batch } = await client.query<Row>(`SELECT id, sender, subject, links FROM ${table} WHERE id > $1 AND id <= $2 AND risk_score IS NULL ORDER BY id LIMIT $3`, [cursor, upper, batchSize]);
    if (batch.length === 0) {
      await client.query('COMMIT');
      break;
    }
    await client.query(UPDATE(table), [batch.map((r) => r.id), batch.map(score)]);
    cursor = Number(batch[batch.length - 1]!.id);
    await client.query(`UPDATE ${schema}.checkpoints SET cursor = $2, processed = processed + $3 WHERE range_id = $1`, [rangeId, cursor, batch.length]);
    await client.query('COMMIT');
    total += batch.length;
  }
  await client.end();
  return total;
}

async function handWritten(schema: string, table: string, connections: number): Promise<number> {
  const started = performance.now();
  const per = Math.ceil(rows / connections);
  const totals = await Promise.all(Array.from({ length: connections }, (_, i) => loop(schema, table, i, i * per, Math.min(rows, (i + 1) * per))));
  const elapsed = performance.now() - started;
  if (totals.reduce((a, b) => a + b, 0) !== rows) throw new Error(`the loop scored ${totals} rows, expected ${rows}`);
  return elapsed;
}

async function sluice(schema: string, table: string, concurrency: number): Promise<number> {
  const store = await openPostgresStore({ connectionString: url, schema: `${schema}_sluice`, poolSize: concurrency + 2 });
  const def = defineBackfill<Row>({
    name: 'risk-scores',
    source: sqlKeyset({ table, key: 'id', columns: ['id', 'sender', 'subject', 'links'], where: 'risk_score IS NULL' }),
    delivery: 'transactional',
    batchSize,
    concurrency,
    async process(batch, ctx) {
      // The same single statement per batch as the loop, through the batch's own transaction.
      await (ctx.tx!.raw as pg.PoolClient).query(UPDATE(table), [batch.map((r) => r.id), batch.map(score)]);
    },
  });
  const engine = createSluice({ store, backfills: [def] });
  const started = performance.now();
  const outcome = await (await engine.start('risk-scores')).done;
  const elapsed = performance.now() - started;
  await engine.close();
  await store.close();
  if (outcome.counts.processed !== rows) throw new Error(`sluice scored ${outcome.counts.processed} rows, expected ${rows}`);
  return elapsed;
}

const schema = `bench_real_${randomBytes(4).toString('hex')}`;
const table = await setup(schema);
try {
  const variants: Array<[string, () => Promise<number>]> = [
    ['hand-written loop, one connection (baseline)', () => handWritten(schema, table, 1)],
    ...lanes.filter((c) => c > 1).map((c): [string, () => Promise<number>] => [`hand-written loop, ${c} connections over key ranges`, () => handWritten(schema, table, c)]),
    ...lanes.map((c): [string, () => Promise<number>] => [`sluice, concurrency ${c}`, () => sluice(schema, table, c)]),
  ];
  const times = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  // Interleaved, so that a slower minute of the machine does not land on one variant.
  for (let run = 0; run < runs; run++) {
    for (const [name, measure] of variants) {
      await reset(schema, table);
      times.get(name)!.push(await measure());
    }
  }
  const base = median(times.get(variants[0]![0])!);
  const results: BenchResult[] = variants.map(([name]) => {
    const ms = median(times.get(name)!);
    return { name, medianMs: ms, itemsPerSecond: rows / (ms / 1000), ratio: base / ms };
  });
  printTable(`A real backfill on PostgreSQL: ${rows.toLocaleString('en-US')} rows scored in JavaScript and written back, batch size ${batchSize}, median of ${runs}`, results);
} finally {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.query(`DROP SCHEMA IF EXISTS ${schema}_sluice CASCADE`);
  await admin.end();
}
