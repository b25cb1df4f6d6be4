import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Cursor } from '../../src/core/cursor.js';
import { SourceError } from '../../src/core/errors.js';
import type { PartitionSpec, SourceReader } from '../../src/core/source.js';
import { sqlKeyset } from '../../src/sources/sql-keyset.js';
import { SqliteConnection } from '../../src/stores/sqlite/sqlite-connection.js';
import { tempDir } from '../helpers/temp.js';

type Row = Record<string, unknown>;

async function readAll(reader: SourceReader<Row>, partition: PartitionSpec, limit: number, since?: Date): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: Cursor = null;
  for (;;) {
    const batch = await reader.read({ partition, cursor, limit, filter: { since } });
    rows.push(...batch.items);
    cursor = batch.cursor;
    if (batch.done) return rows;
  }
}

describe('sqlKeyset on SQLite', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let connection: SqliteConnection;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const db = new Database(join(dir, 'src.db'));
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, flag INTEGER NOT NULL, at TEXT NOT NULL);
      CREATE TABLE pairs (tenant TEXT NOT NULL, seq INTEGER NOT NULL, v TEXT, UNIQUE (tenant, seq));
      CREATE TABLE loose (id INTEGER NOT NULL, v TEXT);`);
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    const pair = db.prepare('INSERT INTO pairs VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= 10_001; i++) insert.run(i, i % 3 === 0 ? 1 : 0, new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString());
      for (const tenant of ['a', 'b', 'c']) for (let s = 1; s <= 777; s++) pair.run(tenant, s, `${tenant}${s}`);
    })();
    connection = new SqliteConnection(db);
  });
  after(async () => {
    connection.raw.close();
    await cleanup();
  });

  it('reads every row once, in key order, across batch boundaries', async () => {
    const reader = await sqlKeyset({ table: 'items', key: 'id' }).open({ storeConnection: connection });
    const rows = await readAll(reader, { lower: null, upper: null }, 333);
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 10_001 }, (_, i) => i + 1));
  });

  it('applies where and since, and resumes from a cursor', async () => {
    const reader = await sqlKeyset({ table: 'items', key: 'id', where: 'flag = 1', sinceColumn: 'at' }).open({ storeConnection: connection });
    const since = new Date(Date.UTC(2026, 0, 1) + 5000 * 1000);
    const rows = await readAll(reader, { lower: null, upper: null }, 100, since);
    assert.ok(rows.every((r) => r.flag === 1 && Number(r.id) >= 5000));
    assert.equal(rows.length, Math.floor(10_001 / 3) - Math.floor(4999 / 3));
    const resumed = await reader.read({ partition: { lower: null, upper: null }, cursor: [9000], limit: 5, filter: {} });
    assert.deepEqual(resumed.items.map((r) => r.id), [9003, 9006, 9009, 9012, 9015]);
    assert.equal(await reader.count!({ partition: { lower: null, upper: null }, cursor: null, filter: { since } }), rows.length);
  });

  it('walks a composite key with repeated first columns without gaps or repeats', async () => {
    const source = sqlKeyset({ table: 'pairs', key: ['tenant', 'seq'] });
    const reader = await source.open({ storeConnection: connection });
    const rows = await readAll(reader, { lower: null, upper: null }, 100);
    assert.equal(rows.length, 3 * 777);
    assert.equal(new Set(rows.map((r) => `${r.tenant}/${r.seq}`)).size, 3 * 777);
    assert.equal(source.defaultKey!(rows[0]!), '["a",1]');
  });

  for (const n of [1, 3, 7]) {
    it(`plans ${n} disjoint partitions that together cover the table`, async () => {
      const reader = await sqlKeyset({ table: 'items', key: 'id' }).open({ storeConnection: connection });
      const partitions = await reader.plan({ partitions: n, filter: {} });
      assert.equal(partitions.length, n);
      const seen: unknown[] = [];
      for (const p of partitions) seen.push(...(await readAll(reader, p, 500)).map((r) => r.id));
      assert.deepEqual(seen, Array.from({ length: 10_001 }, (_, i) => i + 1));
      const sizes = await Promise.all(partitions.map((p) => reader.count!({ partition: p, cursor: null, filter: {} })));
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= Math.ceil(10_001 / n), `balanced: ${sizes.join(', ')}`);
    });
  }

  it('plans composite-key partitions too', async () => {
    const reader = await sqlKeyset({ table: 'pairs', key: ['tenant', 'seq'] }).open({ storeConnection: connection });
    const partitions = await reader.plan({ partitions: 4, filter: {} });
    let total = 0;
    for (const p of partitions) total += (await readAll(reader, p, 100)).length;
    assert.equal(total, 3 * 777);
  });

  const rejects = (options: Parameters<typeof sqlKeyset>[0], message: RegExp) =>
    assert.rejects(async () => sqlKeyset(options).open({ storeConnection: connection }), (e: unknown) => e instanceof SourceError && message.test(e.message));

  it('says which table, column or key is wrong', async () => {
    await rejects({ table: 'nope', key: 'id' }, /^table "nope" does not exist$/);
    await rejects({ table: 'items', key: 'uuid' }, /^column "uuid" not found in table "items"; its columns are: id, flag, at$/);
    await rejects({ table: 'items', key: 'id', sinceColumn: 'created' }, /column "created" not found/);
    await rejects({ table: 'loose', key: 'id' }, /^key \(id\) of table "loose" is not unique: keyset pagination needs a unique key$/);
    await rejects({ table: 'pairs', key: 'seq' }, /key \(seq\) of table "pairs" is not unique/);
  });

  it('rejects identifiers that are not plain names', async () => {
    assert.throws(() => sqlKeyset({ table: 'items; DROP TABLE items', key: 'id' }), /not a plain SQL identifier/);
    assert.throws(() => sqlKeyset({ table: 'items', key: 'id"--' }), /not a plain SQL identifier/);
    assert.ok((await connection.query('SELECT COUNT(*) AS n FROM items'))[0]);
  });

  it('needs a connection when the store offers none', async () => {
    await assert.rejects(sqlKeyset({ table: 'items', key: 'id' }).open({}), /no database to read/);
  });

  it('refetches rows by key for replay', async () => {
    const reader = await sqlKeyset({ table: 'items', key: 'id' }).open({ storeConnection: connection });
    const result = await reader.refetch!([{ key: '42', payload: { id: 42 } }, { key: '99999', payload: { id: 99999 } }]);
    assert.equal((result[0]!.item as Row).id, 42);
    assert.equal(result[1]!.error?.errorClass, 'NOT_FOUND');
  });
});
