/**
 * Engine overhead on SQLite: Sluice with a no-op `process` over a keyset source against a
 * hand-written keyset loop doing the same reads and the same checkpoint writes (one transaction per
 * batch updating a cursor row), same file layout, same pragmas, same batch size, in the same run.
 * `--delivery idempotent` measures coalesced checkpoints against a loop that checkpoints as
 * seldom (every 100 batches or 1 s, and at the end). `--body-bytes N` gives every row an N-byte
 * text column, which both sides read (`SELECT *`): wide rows, where reading costs more per item.
 *
 *   node --import tsx bench/engine-overhead.ts [--rows 1000000] [--batch-size 1000] [--runs 5] [--delivery transactional|idempotent] [--body-bytes 0]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../src/sqlite.js';
import { COALESCE, deliveryArg, printOverheadTarget, timeNoopBackfill } from './noop-backfill.js';
import { interleaved, printTable, type BenchResult } from './report.js';
import { seedSqliteItems } from './items-table.js';
import { bodyBytesArg, rowsLabel } from './row-width.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'batch-size': { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    delivery: { type: 'string', default: 'transactional' },
    'body-bytes': { type: 'string', default: '0' },
  },
});
const delivery = deliveryArg(values.delivery);
const rows = Number(values.rows);
const batchSize = Number(values['batch-size']);
const runs = Number(values.runs);
const bodyBytes = bodyBytesArg(values['body-bytes']);

/** The loop a careful engineer writes by hand: keyset read, then one transaction for the checkpoint. */
function handWritten(path: string): number {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY, cursor INTEGER, processed INTEGER)');
  db.prepare('INSERT OR REPLACE INTO checkpoint (id, cursor, processed) VALUES (1, 0, 0)').run();
  const read = db.prepare('SELECT * FROM items WHERE id > ? ORDER BY id LIMIT ?');
  const save = db.prepare('UPDATE checkpoint SET cursor = ?, processed = processed + ? WHERE id = 1');
  const started = performance.now();
  let cursor = 0;
  let total = 0;
  let waiting = { batches: 0, items: 0, since: started };
  const checkpoint = () => {
    db.exec('BEGIN IMMEDIATE');
    save.run(cursor, waiting.items);
    db.exec('COMMIT');
    waiting = { batches: 0, items: 0, since: performance.now() };
  };
  for (;;) {
    const batch = read.all(cursor, batchSize) as Array<{ id: number }>;
    if (batch.length === 0) break;
    cursor = batch[batch.length - 1]!.id;
    total += batch.length;
    waiting.batches += 1;
    waiting.items += batch.length;
    const last = batch.length < batchSize;
    if (delivery === 'transactional' || last || waiting.batches >= COALESCE.batches || performance.now() - waiting.since >= COALESCE.ms)
      checkpoint();
    if (last) break;
  }
  if (waiting.batches > 0) checkpoint();
  const elapsed = performance.now() - started;
  db.close();
  if (total !== rows) throw new Error(`hand-written loop saw ${total} rows, expected ${rows}`);
  return elapsed;
}

async function sluice(path: string): Promise<number> {
  return timeNoopBackfill(await openSqliteStore(path), 'items', rows, batchSize, delivery);
}

export async function engineOverhead(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  try {
    const path = join(dir, 'bench.db');
    seedSqliteItems(path, rows, bodyBytes);
    return await interleaved(
      runs,
      rows,
      {
        name: `hand-written keyset loop${delivery === 'idempotent' ? ', checkpoint every 100 batches or 1 s' : ''} (baseline)`,
        measure: () => handWritten(path),
      },
      { name: `sluice, no-op process, ${delivery}`, measure: () => sluice(path) },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await engineOverhead();
  printTable(`Engine overhead, SQLite, ${delivery}, ${rowsLabel(rows, bodyBytes)}, batch size ${batchSize}, median of ${runs}`, results);
  printOverheadTarget('SQLite', delivery, bodyBytes, results);
}
