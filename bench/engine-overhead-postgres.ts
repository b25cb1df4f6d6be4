/**
 * Engine overhead on PostgreSQL, the sibling of bench/engine-overhead.ts (SQLite): Sluice with a
 * PostgreSQL store, a no-op `process` and a sqlKeyset source over a PostgreSQL table, against a
 * hand-written loop on one connection doing the same keyset reads and a checkpoint UPDATE per batch
 * in its own transaction, same table, same batch size, interleaved in the same run. The loop
 * commits as Sluice does: with `synchronous_commit = off` (Sluice's default for transactional
 * batches) unless `--sync-commit`; with `--delivery idempotent`, Sluice coalesces its checkpoints
 * and the loop checkpoints as seldom (every 100 batches or 1 s, and at the end). `--body-bytes N`
 * gives every row an N-byte text column, which both sides read (`SELECT *`): wide rows.
 *
 *   node --import tsx bench/engine-overhead-postgres.ts [--rows 1000000] [--batch-size 1000] [--runs 5] [--delivery transactional|idempotent]
 *     [--sync-commit] [--body-bytes 0]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { COALESCE, deliveryArg, printOverheadTarget, timeNoopBackfill } from './noop-backfill.js';
import { openPostgresStore } from '../src/stores/postgres/index.js';
import { interleaved, printTable, type BenchResult } from './report.js';
import { createPgItemsTable } from './items-table.js';
import { withClient } from './real-backfill-shared.js';
import { bodyBytesArg, rowsLabel } from './row-width.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'batch-size': { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    delivery: { type: 'string', default: 'transactional' },
    'sync-commit': { type: 'boolean', default: false },
    'body-bytes': { type: 'string', default: '0' },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const rows = Number(values.rows);
const batchSize = Number(values['batch-size']);
const runs = Number(values.runs);
const url = values.pg!;
const bodyBytes = bodyBytesArg(values['body-bytes']);
const delivery = deliveryArg(values.delivery);
/** Sluice commits idempotent checkpoints synchronously (their writes went elsewhere); transactional batches asynchronously unless told. */
const asyncCommit = delivery === 'transactional' && !values['sync-commit'];

const admin = (sql: string) => withClient(url, (client) => client.query(sql));

async function seed(schema: string): Promise<string> {
  const table = await createPgItemsTable(url, schema, rows, bodyBytes);
  await admin(`CREATE TABLE ${schema}.checkpoint (id int PRIMARY KEY, cursor bigint NOT NULL, processed bigint NOT NULL)`);
  return table;
}

/** The loop a careful engineer writes by hand: keyset read, then one transaction for the checkpoint. */
async function handWritten(schema: string, table: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`INSERT INTO ${schema}.checkpoint VALUES (1, 0, 0) ON CONFLICT (id) DO UPDATE SET cursor = 0, processed = 0`);
    const started = performance.now();
    let cursor = 0;
    let total = 0;
    let waiting = { batches: 0, items: 0, since: started };
    const checkpoint = async () => {
      await client.query(asyncCommit ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
      await client.query(`UPDATE ${schema}.checkpoint SET cursor = $1, processed = processed + $2 WHERE id = 1`, [cursor, waiting.items]);
      await client.query('COMMIT');
      waiting = { batches: 0, items: 0, since: performance.now() };
    };
    for (;;) {
      const { rows: batch } = await client.query<{ id: string }>(`SELECT * FROM ${table} WHERE id > $1 ORDER BY id LIMIT $2`, [
        cursor,
        batchSize,
      ]);
      if (batch.length === 0) break;
      cursor = Number(batch[batch.length - 1]!.id);
      total += batch.length;
      waiting.batches += 1;
      waiting.items += batch.length;
      const last = batch.length < batchSize;
      if (delivery === 'transactional' || last || waiting.batches >= COALESCE.batches || performance.now() - waiting.since >= COALESCE.ms)
        await checkpoint();
      if (last) break;
    }
    if (waiting.batches > 0) await checkpoint();
    const elapsed = performance.now() - started;
    if (total !== rows) throw new Error(`hand-written loop saw ${total} rows, expected ${rows}`);
    return elapsed;
  } finally {
    await client.end();
  }
}

async function sluice(schema: string, table: string): Promise<number> {
  // A fresh store schema per run, so that every run starts from the same empty store.
  const storeSchema = `${schema}_sluice`;
  await admin(`DROP SCHEMA IF EXISTS ${storeSchema} CASCADE`);
  const store = await openPostgresStore({
    connectionString: url,
    schema: storeSchema,
    poolSize: 3,
    asyncBatchCommit: !values['sync-commit'],
  });
  return timeNoopBackfill(store, table, rows, batchSize, delivery);
}

export async function engineOverheadPostgres(): Promise<BenchResult[]> {
  const schema = `bench_overhead_${randomBytes(4).toString('hex')}`;
  try {
    const table = await seed(schema);
    return await interleaved(
      runs,
      rows,
      {
        name: `hand-written keyset loop, pg, checkpoint UPDATE ${delivery === 'idempotent' ? 'every 100 batches or 1 s' : 'per batch'}${asyncCommit ? ', synchronous_commit off' : ''} (baseline)`,
        measure: () => handWritten(schema, table),
      },
      {
        name: `sluice, PostgreSQL store, no-op process, ${delivery}${values['sync-commit'] ? ', synchronous commit' : ''}`,
        measure: () => sluice(schema, table),
      },
    );
  } finally {
    await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin(`DROP SCHEMA IF EXISTS ${schema}_sluice CASCADE`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await engineOverheadPostgres();
  printTable(
    `Engine overhead, PostgreSQL, ${delivery}, ${rowsLabel(rows, bodyBytes)}, batch size ${batchSize}, median of ${runs}`,
    results,
  );
  printOverheadTarget('PostgreSQL', delivery, bodyBytes, results);
}
