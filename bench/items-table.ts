/**
 * The `items` table the no-op benchmarks read (bench/engine-overhead.ts on SQLite,
 * bench/engine-overhead-postgres.ts on PostgreSQL, bench/overhead-profile.ts on both): ids 1..rows,
 * a short payload, and on wide rows (`--body-bytes`) a body of that many bytes.
 */
import Database from 'better-sqlite3';
import { withClient } from './real-backfill-shared.js';
import { pgBodyColumn, sqliteBody } from './row-width.js';

/** `items` in the SQLite file at `path` (WAL, as the benchmarks open it). */
export function seedSqliteItems(path: string, rows: number, bodyBytes: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL${bodyBytes > 0 ? ', body TEXT NOT NULL' : ''})`);
  const insert = db.prepare(bodyBytes > 0 ? 'INSERT INTO items VALUES (?, ?, ?)' : 'INSERT INTO items VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) insert.run(i, `item-${i}`, ...(bodyBytes > 0 ? [sqliteBody(i, bodyBytes)] : []));
  })();
  db.close();
}

/** `schema.items` on PostgreSQL (the schema is created here), vacuumed and analyzed; returns the table's name. */
export async function createPgItemsTable(url: string, schema: string, rows: number, bodyBytes: number): Promise<string> {
  const table = `${schema}.items`;
  const body = pgBodyColumn(table, bodyBytes);
  await withClient(url, async (admin) => {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, payload text NOT NULL${body.definition})`);
    for (const statement of body.storage) await admin.query(statement);
    await admin.query(`INSERT INTO ${table} SELECT g, 'item-' || g${body.value('g')} FROM generate_series(1, ${rows}) g`);
    await admin.query(`VACUUM ANALYZE ${table}`);
  });
  return table;
}
