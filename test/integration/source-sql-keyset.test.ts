import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Cursor } from '../../src/core/cursor.js';
import { SourceError } from '../../src/core/errors.js';
import type { PartitionSpec, SourceReader } from '../../src/core/source.js';
import type { SqlConnection } from '../../src/core/sql.js';
import { sqlKeyset, type SqlKeysetOptions } from '../../src/sources/sql-keyset.js';
import { PostgresConnection } from '../../src/stores/postgres/postgres-connection.js';
import { SqliteConnection } from '../../src/stores/sqlite/sqlite-connection.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';
import { inTimeZone } from '../helpers/time-zone.js';

type Row = Record<string, unknown>;
const whole: PartitionSpec = { lower: null, upper: null };
const ROWS = 10_001;
const allIds = Array.from({ length: ROWS }, (_, i) => i + 1);

async function readAll(
  reader: SourceReader<Row>,
  partition: PartitionSpec,
  limit: number,
  options: { since?: Date; cursor?: Cursor } = {},
) {
  const rows: Row[] = [];
  let cursor: Cursor = options.cursor ?? null;
  let reads = 0;
  for (;;) {
    const batch = await reader.read({ partition, cursor, limit, filter: { since: options.since } });
    assert.ok(batch.items.length <= limit);
    assert.deepEqual(batch.malformed, []);
    rows.push(...batch.items);
    // A cursor is JSON: what the checkpoint stores is what the next read gets.
    cursor = JSON.parse(JSON.stringify(batch.cursor)) as Cursor;
    reads += 1;
    if (batch.done) return { rows, cursor, reads };
  }
}

const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000);

/** The connection, with every statement it runs written down (to tell how a plan was made). */
function recording(connection: SqlConnection): { connection: SqlConnection; statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    connection: {
      dialect: connection.dialect,
      query: (sql, params) => (statements.push(sql), connection.query(sql, params)),
      execute: (sql, params) => (statements.push(sql), connection.execute(sql, params)),
      executeMany: (sql, list) => (statements.push(sql), connection.executeMany(sql, list)),
    },
  };
}

describe('sqlKeyset on SQLite', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let connection: SqliteConnection;
  const open = (options: SqlKeysetOptions) => sqlKeyset(options).open({ storeConnection: connection });

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const db = new Database(join(dir, 'src.db'));
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, flag INTEGER NOT NULL, at TEXT NOT NULL);
      CREATE TABLE pairs (tenant TEXT NOT NULL, seq INTEGER NOT NULL, v TEXT, UNIQUE (tenant, seq));
      CREATE TABLE loose (id INTEGER NOT NULL, v TEXT);
      CREATE TABLE loose_nulls (id INTEGER, v TEXT);
      CREATE TABLE empty (id INTEGER PRIMARY KEY);
      CREATE TABLE codes (code TEXT PRIMARY KEY, v INTEGER);
      CREATE TABLE nullable (code TEXT UNIQUE, v INTEGER);
      CREATE TABLE exprs (id INTEGER NOT NULL, email TEXT NOT NULL);
      CREATE UNIQUE INDEX exprs_unique ON exprs (id, lower(email));
      CREATE TABLE partial (id INTEGER NOT NULL, live INTEGER NOT NULL);
      CREATE UNIQUE INDEX partial_unique ON partial (id) WHERE live = 1;
      CREATE TABLE epochs (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
      INSERT INTO epochs VALUES (1, 1767225600000);
      CREATE TABLE wide (a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER NOT NULL, PRIMARY KEY (a, b, c)) WITHOUT ROWID;`);
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    const pair = db.prepare('INSERT INTO pairs VALUES (?, ?, ?)');
    const wide = db.prepare('INSERT INTO wide VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) insert.run(i, i % 3 === 0 ? 1 : 0, at(i).toISOString());
      // The first key column repeats 777 times: batches of 100 end inside a tenant.
      for (const tenant of ['b', 'a', 'c']) for (let s = 777; s >= 1; s--) pair.run(tenant, s, `${tenant}${s}`);
      for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) for (let c = 0; c < 5; c++) wide.run(a, b, c);
      for (const code of ['x', 'a', 'm', 'b']) db.prepare('INSERT INTO codes VALUES (?, ?)').run(code, code.charCodeAt(0));
      db.prepare("INSERT INTO nullable VALUES ('a', 1), (NULL, 2), ('b', 3), (NULL, 4)").run();
      db.prepare("INSERT INTO loose_nulls VALUES (1, 'a'), (NULL, 'b'), (2, 'c')").run();
    })();
    connection = new SqliteConnection(db);
  });
  after(async () => {
    connection.raw.close();
    await cleanup();
  });

  it('reads every row once, in key order, across batch boundaries', async () => {
    const reader = await open({ table: 'items', key: 'id' });
    for (const limit of [1_000, 333, ROWS, ROWS + 1]) {
      const { rows, reads } = await readAll(reader, whole, limit);
      assert.deepEqual(
        rows.map((r) => r.id),
        allIds,
        `limit ${limit}`,
      );
      // `done` = a short batch: an exact multiple of the limit costs one more, empty, read.
      assert.equal(reads, Math.floor(ROWS / limit) + 1, `limit ${limit}`);
    }
    assert.deepEqual(Object.keys((await reader.read({ partition: whole, cursor: null, limit: 1, filter: {} })).items[0]!), [
      'id',
      'flag',
      'at',
    ]);
  });

  it('walks a composite key whose first column repeats, without gaps or repeats', async () => {
    const source = sqlKeyset({ table: 'pairs', key: ['tenant', 'seq'] });
    const reader = await source.open({ storeConnection: connection });
    const expected = ['a', 'b', 'c'].flatMap((t) => Array.from({ length: 777 }, (_, i) => `${t}/${i + 1}`));
    for (const limit of [100, 7, 777]) {
      const { rows } = await readAll(reader, whole, limit);
      assert.deepEqual(
        rows.map((r) => `${r.tenant}/${r.seq}`),
        expected,
        `limit ${limit}`,
      );
    }
    const first = await reader.read({ partition: whole, cursor: null, limit: 100, filter: {} });
    assert.deepEqual(first.cursor, ['a', 100]);
    assert.equal(source.defaultKey!(first.items[0]!), '["a",1]');
    assert.equal(source.description, 'pairs by (tenant, seq)');
  });

  it('accepts a unique index in another column order and reads in the key order given', async () => {
    const reader = await open({ table: 'pairs', key: ['seq', 'tenant'] });
    const { rows } = await readAll(reader, whole, 50);
    assert.equal(rows.length, 3 * 777);
    assert.deepEqual(
      rows.slice(0, 4).map((r) => `${r.seq}/${r.tenant}`),
      ['1/a', '1/b', '1/c', '2/a'],
    );
  });

  it('walks a three-column WITHOUT ROWID primary key and a TEXT primary key', async () => {
    const wide = await readAll(await open({ table: 'wide', key: ['a', 'b', 'c'] }), whole, 4);
    assert.deepEqual(
      wide.rows.map((r) => `${r.a}${r.b}${r.c}`),
      Array.from({ length: 125 }, (_, i) => i.toString(5).padStart(3, '0')),
    );
    const codes = await readAll(await open({ table: 'codes', key: 'code' }), whole, 3);
    assert.deepEqual(
      codes.rows.map((r) => r.code),
      ['a', 'b', 'm', 'x'],
    );
    assert.deepEqual(codes.cursor, ['x']);
  });

  it('applies where and since, and resumes from a cursor', async () => {
    const reader = await open({ table: 'items', key: 'id', where: 'flag = 1', sinceColumn: 'at' });
    const since = at(5000);
    const { rows } = await readAll(reader, whole, 100, { since });
    assert.deepEqual(
      rows.map((r) => r.id),
      allIds.filter((i) => i % 3 === 0 && i >= 5000),
    );
    const resumed = await reader.read({ partition: whole, cursor: [9000], limit: 5, filter: {} });
    assert.deepEqual(
      resumed.items.map((r) => r.id),
      [9003, 9006, 9009, 9012, 9015],
    );
    assert.deepEqual(resumed.cursor, [9015]);
    assert.equal(await reader.count!({ partition: whole, cursor: null, filter: { since } }), rows.length);
    assert.equal(
      await reader.count!({ partition: whole, cursor: [9000], filter: {} }),
      allIds.filter((i) => i % 3 === 0 && i > 9000).length,
    );
    assert.equal(await reader.count!({ partition: { lower: [10], upper: [20] }, cursor: null, filter: {} }), 3);
  });

  it('resumes after a restart: a fresh reader continues from the checkpointed cursor', async () => {
    const first = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    const seen: Row[] = [];
    let cursor: Cursor = null;
    for (let i = 0; i < 5; i++) {
      const batch = await first.read({ partition: whole, cursor, limit: 250, filter: {} });
      seen.push(...batch.items);
      cursor = batch.cursor;
    }
    await first.close();
    const stored = JSON.stringify(cursor);
    const second = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    const { rows } = await readAll(second, whole, 250, { cursor: JSON.parse(stored) as Cursor });
    const keys = [...seen, ...rows].map((r) => `${r.tenant}/${r.seq}`);
    assert.equal(keys.length, 3 * 777);
    assert.equal(new Set(keys).size, 3 * 777);
  });

  it('keeps the where fragment parenthesised, even with OR and a trailing comment', async () => {
    const reader = await open({ table: 'items', key: 'id', where: 'flag = 1 OR id < 4 -- small ids too', sinceColumn: 'at' });
    const { rows } = await readAll(reader, whole, 1000, { since: at(9990) });
    assert.deepEqual(
      rows.map((r) => r.id),
      [9990, 9993, 9996, 9999],
    );
  });

  it('reads only the requested columns, adding the key columns', async () => {
    const reader = await open({ table: 'items', key: 'id', columns: ['flag'] });
    const batch = await reader.read({ partition: whole, cursor: null, limit: 2, filter: {} });
    assert.deepEqual(batch.items, [
      { id: 1, flag: 0 },
      { id: 2, flag: 0 },
    ]);
    const pairs = await open({ table: 'pairs', key: ['tenant', 'seq'], columns: ['v', 'seq'] });
    assert.deepEqual((await pairs.read({ partition: whole, cursor: null, limit: 1, filter: {} })).items, [
      { tenant: 'a', seq: 1, v: 'a1' },
    ]);
  });

  for (const n of [1, 3, 7]) {
    it(`plans ${n} disjoint partitions that together cover the table`, async () => {
      const reader = await open({ table: 'items', key: 'id' });
      const partitions = await reader.plan({ partitions: n, filter: {} });
      assert.equal(partitions.length, n);
      assert.equal(partitions[0]!.lower, null);
      assert.equal(partitions[n - 1]!.upper, null);
      for (let i = 1; i < n; i++) assert.deepEqual(partitions[i]!.lower, partitions[i - 1]!.upper);
      const seen: unknown[] = [];
      for (const p of partitions) seen.push(...(await readAll(reader, p, 500)).rows.map((r) => r.id));
      assert.deepEqual(seen, allIds);
      const sizes = await Promise.all(partitions.map((p) => reader.count!({ partition: p, cursor: null, filter: {} })));
      assert.equal(
        sizes.reduce((a, b) => a + b, 0),
        ROWS,
      );
      const step = Math.ceil(ROWS / n);
      assert.ok(
        sizes.slice(0, -1).every((s) => s === step),
        `every partition but the last holds ${step}: ${sizes.join(', ')}`,
      );
    });
  }

  it('labels the partitions by their first key', async () => {
    const reader = await open({ table: 'items', key: 'id' });
    assert.deepEqual(
      (await reader.plan({ partitions: 3, filter: {} })).map((p) => p.label),
      ['id 1..3335', 'id 3335..6669', 'id ≥ 6669'],
    );
    assert.deepEqual(await reader.plan({ partitions: 1, filter: {} }), [{ lower: null, upper: null, label: 'all rows' }]);
    const pairs = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    assert.deepEqual(
      (await pairs.plan({ partitions: 2, filter: {} })).map((p) => p.label),
      ['(tenant, seq) ("a", 1)..("b", 390)', '(tenant, seq) ≥ ("b", 390)'],
    );
  });

  it('plans over the filtered rows only, and never more partitions than rows', async () => {
    const reader = await open({ table: 'items', key: 'id', where: 'flag = 1', sinceColumn: 'at' });
    const since = at(9000);
    const partitions = await reader.plan({ partitions: 4, filter: { since } });
    const expected = allIds.filter((i) => i % 3 === 0 && i >= 9000);
    const sizes = await Promise.all(partitions.map((p) => reader.count!({ partition: p, cursor: null, filter: { since } })));
    assert.deepEqual(sizes, [84, 84, 84, 82]);
    const seen: unknown[] = [];
    for (const p of partitions) seen.push(...(await readAll(reader, p, 50, { since })).rows.map((r) => r.id));
    assert.deepEqual(seen, expected);
    const few = await open({ table: 'items', key: 'id', where: 'id <= 3' });
    const three = await few.plan({ partitions: 7, filter: {} });
    assert.deepEqual(
      three.map((p) => [p.lower, p.upper]),
      [
        [null, [2]],
        [[2], [3]],
        [[3], null],
      ],
    );
  });

  it('cuts a gapless integer key by arithmetic, numbers the rows of any other, and counts the planned rows once', async () => {
    const dense = recording(connection);
    const reader = await sqlKeyset({ table: 'items', key: 'id' }).open({ storeConnection: dense.connection });
    dense.statements.length = 0;
    const partitions = await reader.plan({ partitions: 3, filter: {} });
    assert.deepEqual(
      partitions.map((p) => [p.lower, p.upper]),
      [
        [null, [3335]],
        [[3335], [6669]],
        [[6669], null],
      ],
    );
    // The plan's count is the run's: each slice says how many rows it holds, so nothing counts again.
    assert.deepEqual(
      partitions.map((p) => p.items),
      [3334, 3334, ROWS - 2 * 3334],
    );
    assert.equal(dense.statements.length, 1, `one COUNT/MIN/MAX, no numbering scan: ${dense.statements.join(' | ')}`);
    assert.doesNotMatch(dense.statements[0]!, /row_number/);

    const gappy = recording(connection);
    const holes = await sqlKeyset({ table: 'items', key: 'id', where: 'id NOT BETWEEN 100 AND 4000' }).open({
      storeConnection: gappy.connection,
    });
    const cut = await holes.plan({ partitions: 3, filter: {} });
    assert.ok(
      gappy.statements.some((sql) => /row_number/.test(sql)),
      'a key with gaps is cut by row counts',
    );
    const sizes = await Promise.all(cut.map((p) => holes.count!({ partition: p, cursor: null, filter: {} })));
    const step = Math.ceil((ROWS - 3901) / 3);
    assert.deepEqual(sizes, [step, step, ROWS - 3901 - 2 * step]);
    assert.deepEqual(
      cut.map((p) => p.items),
      sizes,
      'the numbering scan counts each slice too',
    );
  });

  it('plans one unbounded partition over an empty table', async () => {
    const reader = await open({ table: 'empty', key: 'id' });
    assert.deepEqual(await reader.plan({ partitions: 5, filter: {} }), [{ lower: null, upper: null, label: 'all rows' }]);
    assert.deepEqual(await reader.read({ partition: whole, cursor: null, limit: 10, filter: {} }), {
      items: [],
      malformed: [],
      cursor: null,
      done: true,
    });
    assert.equal(await reader.count!({ partition: whole, cursor: null, filter: {} }), 0);
  });

  it('plans composite-key partitions that cover every row once', async () => {
    const reader = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    for (const n of [2, 4, 7]) {
      const partitions = await reader.plan({ partitions: n, filter: {} });
      assert.equal(partitions.length, n);
      const keys: string[] = [];
      for (const p of partitions) keys.push(...(await readAll(reader, p, 100)).rows.map((r) => `${r.tenant}/${r.seq}`));
      assert.equal(keys.length, 3 * 777);
      assert.equal(new Set(keys).size, 3 * 777);
    }
  });

  it('splits what is left of a partition at its middle row', async () => {
    const reader = await open({ table: 'items', key: 'id', where: 'flag = 0' });
    const [first, second] = await reader.plan({ partitions: 2, filter: {} });
    const batch = await reader.read({ partition: first!, cursor: null, limit: 100, filter: {} });
    const left = await reader.count!({ partition: first!, cursor: batch.cursor, filter: {} });
    const point = await reader.split!({ partition: first!, cursor: batch.cursor, filter: {}, minItems: 300 });
    assert.ok(point !== null);
    const before = { lower: first!.lower, upper: point };
    const afterSplit = { lower: point, upper: first!.upper };
    const a = await readAll(reader, before, 64, { cursor: batch.cursor });
    const b = await readAll(reader, afterSplit, 64);
    assert.equal(a.rows.length, Math.floor(left / 2));
    assert.equal(a.rows.length + b.rows.length, left);
    const ids = [...batch.items, ...a.rows, ...b.rows].map((r) => r.id);
    const rest = (await readAll(reader, second!, 1000)).rows.map((r) => r.id);
    assert.deepEqual(
      [...ids, ...rest],
      allIds.filter((i) => i % 3 !== 0),
    );
    assert.equal(await reader.split!({ partition: first!, cursor: batch.cursor, filter: {}, minItems: Math.ceil(left / 2) + 1 }), null);
    const pairs = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    // Left after a700: a701..a777 (77), b1..b777, c1..c777 = 1631; the 816th is b739.
    assert.deepEqual(await pairs.split!({ partition: whole, cursor: ['a', 700], filter: {}, minItems: 10 }), ['b', 739]);
  });

  it('refetches rows by key for replay', async () => {
    const reader = await open({ table: 'items', key: 'id', columns: ['flag'] });
    const result = await reader.refetch!([
      { key: '42', payload: { id: 42, flag: 1 } },
      { key: '99999', payload: { id: 99999 } },
      { key: '7', payload: 'a sample, not a row' },
    ]);
    assert.deepEqual(result[0], { key: '42', item: { id: 42, flag: 1 } });
    assert.equal(result[1]!.error?.errorClass, 'NOT_FOUND');
    assert.equal(result[1]!.error?.message, 'table "items" no longer has the row (id) = [99999]');
    assert.equal(result[2]!.error?.errorClass, 'NO_PAYLOAD');
    const pairs = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    const [found] = await pairs.refetch!([{ key: '["c",5]', payload: { tenant: 'c', seq: 5, v: 'stale' } }]);
    assert.deepEqual(found, { key: '["c",5]', item: { tenant: 'c', seq: 5, v: 'c5' } });
  });

  const rejects = (options: SqlKeysetOptions, message: string | RegExp) =>
    assert.rejects(
      async () => open(options),
      (e: unknown) => {
        assert.ok(e instanceof SourceError, `a SourceError, got ${String(e)}`);
        if (typeof message === 'string') assert.equal(e.message, message);
        else assert.match(e.message, message);
        return true;
      },
    );

  it('says which table or column is missing', async () => {
    await rejects({ table: 'emails', key: 'id' }, `table "emails" does not exist in SQLite database ${join(dir, 'src.db')}`);
    await rejects(
      { table: 'other.emails', key: 'id' },
      /^table "other\.emails" does not exist in SQLite database .*src\.db: it has no attached database "other" \(attached: main\)$/,
    );
    await rejects({ table: 'items', key: 'uuid' }, 'column "uuid" not found in table "items"; its columns are: id, flag, at');
    await rejects(
      { table: 'items', key: 'id', sinceColumn: 'created' },
      'column "created" not found in table "items"; its columns are: id, flag, at',
    );
    await rejects(
      { table: 'items', key: 'id', columns: ['flag', 'subject'] },
      'column "subject" not found in table "items"; its columns are: id, flag, at',
    );
    await rejects(
      { table: 'epochs', key: 'id', sinceColumn: 'at' },
      'sinceColumn "at" of table "epochs" holds integer values (such as 1767225600000), but on SQLite `since` compares ISO-8601 text such as 1970-01-01T00:00:00.000Z',
    );
    await open({ table: 'empty', key: 'id', sinceColumn: 'id' });
    // Case matters: the row's property is named as the table declares it.
    await rejects({ table: 'items', key: 'ID' }, /^column "ID" not found in table "items"/);
    const main = await open({ table: 'main.items', key: 'id' });
    assert.equal((await main.read({ partition: whole, cursor: [ROWS - 1], limit: 5, filter: {} })).items.length, 1);
  });

  it('refuses a key that is not unique, saying what to add', async () => {
    const notUnique = (table: string, key: string) =>
      `key (${key}) of table "${table}" is not unique: keyset pagination needs a unique key; add a UNIQUE index on (${key}) or choose the primary key`;
    await rejects({ table: 'loose', key: 'id' }, notUnique('loose', 'id'));
    await rejects({ table: 'pairs', key: 'seq' }, notUnique('pairs', 'seq'));
    await rejects({ table: 'pairs', key: ['tenant', 'seq', 'v'] }, notUnique('pairs', 'tenant, seq, v'));
    await rejects({ table: 'items', key: ['id', 'flag'] }, notUnique('items', 'id, flag'));
    await rejects({ table: 'exprs', key: 'id' }, notUnique('exprs', 'id'));
    await rejects({ table: 'exprs', key: ['id', 'email'] }, notUnique('exprs', 'id, email'));
    await rejects({ table: 'partial', key: 'id' }, notUnique('partial', 'id'));
  });

  it('refuses a unique key holding NULLs, which keyset pagination would skip, unless where leaves them out', async () => {
    await rejects(
      { table: 'nullable', key: 'code' },
      `key column "code" of table "nullable" has NULL values in 2 rows: a keyset source needs a key without NULLs (keyset pagination never reaches those rows); declare the key NOT NULL, or leave those rows out with where: 'code IS NOT NULL'`,
    );
    const reader = await open({ table: 'nullable', key: 'code', where: 'code IS NOT NULL' });
    // Without a unique index too: the NULLs are named first, then the missing index.
    await rejects(
      { table: 'loose_nulls', key: 'id' },
      `key column "id" of table "loose_nulls" has NULL values in 1 row: a keyset source needs a key without NULLs (keyset pagination never reaches those rows); declare the key NOT NULL, or leave those rows out with where: 'id IS NOT NULL'; the key is not unique either: add a UNIQUE index on (id) or choose the primary key`,
    );
    assert.deepEqual(
      (await readAll(reader, whole, 10)).rows.map((r) => r.v),
      [1, 3],
    );
  });

  it('rejects identifiers that are not plain names before touching the database', async () => {
    const bad: Array<[SqlKeysetOptions, RegExp]> = [
      [{ table: 'emails; DROP TABLE x', key: 'id' }, /^sqlKeyset: table "emails; DROP TABLE x" is not a plain SQL identifier/],
      [{ table: 'a.b.c', key: 'id' }, /^sqlKeyset: table "a\.b\.c" has more than one dot/],
      [{ table: 'items', key: 'id"--' }, /^sqlKeyset: key column "id"--" is not a plain SQL identifier/],
      [{ table: 'items', key: ['id', 'flag) OR (1=1'] }, /^sqlKeyset: key column "flag\) OR \(1=1" is not a plain SQL identifier/],
      [{ table: 'items', key: 'id', columns: ['flag', '*'] }, /^sqlKeyset: column "\*" is not a plain SQL identifier/],
      [
        { table: 'items', key: 'id', sinceColumn: 'at; DELETE FROM items' },
        /^sqlKeyset: sinceColumn "at; DELETE FROM items" is not a plain SQL identifier/,
      ],
      [{ table: 'items', key: [] }, /^sqlKeyset: key must name a column/],
      [{ table: 'items', key: ['id', 'id'] }, /^sqlKeyset: key \(id, id\) names a column twice/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => sqlKeyset(options),
        (e: unknown) => e instanceof SourceError && message.test(e.message),
        JSON.stringify(options),
      );
    }
    assert.equal((await connection.query<{ n: number }>('SELECT COUNT(*) AS n FROM items'))[0]!.n, ROWS);
  });

  it('refuses a cursor that is not a position in the key', async () => {
    const reader = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    await assert.rejects(
      reader.read({ partition: whole, cursor: ['a'], limit: 5, filter: {} }),
      /cursor \["a"\] is not a position in key \(tenant, seq\)/,
    );
    await assert.rejects(reader.read({ partition: whole, cursor: 1234, limit: 5, filter: {} }), SourceError);
  });

  it('reads the connection given, and needs one when the store offers none', async () => {
    await assert.rejects(sqlKeyset({ table: 'items', key: 'id' }).open({}), {
      name: 'SourceError',
      message:
        'sqlKeyset(items): no database to read: the store offers sources no SQL connection, so pass one as sqlKeyset({ ..., connection })',
    });
    const other = new SqliteConnection(new Database(':memory:'));
    other.raw.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, flag INTEGER); INSERT INTO items VALUES (1, 0), (2, 1);');
    const reader = await sqlKeyset({ table: 'items', key: 'id', connection: other }).open({ storeConnection: connection });
    assert.equal((await readAll(reader, whole, 10)).rows.length, 2);
    await assert.rejects(sqlKeyset({ table: 'emails', key: 'id', connection: other }).open({}), {
      message: 'table "emails" does not exist in the in-memory SQLite database',
    });
    other.raw.close();
  });
});

describe('sqlKeyset on PostgreSQL', () => {
  let schema: string;
  let cleanup: () => Promise<void>;
  let pool: pg.Pool;
  let client: pg.PoolClient;
  let connection: SqlConnection;
  const open = (options: SqlKeysetOptions) => sqlKeyset(options).open({ storeConnection: connection });
  const N = 3_001;

  before(async () => {
    ({ schema, cleanup } = await testSchema('keyset'));
    pool = new pg.Pool({ connectionString: TEST_PG, max: 2 });
    client = await pool.connect();
    await client.query(`SET search_path TO "${schema}"`);
    await pool.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, flag int NOT NULL, at timestamptz NOT NULL);
      INSERT INTO "${schema}".items SELECT i, (i % 3 = 0)::int, timestamptz '2026-01-01T00:00:00Z' + i * interval '1 second' FROM generate_series(1, ${N}) AS i;
      CREATE TABLE "${schema}".pairs (tenant text NOT NULL, seq int NOT NULL, v text, UNIQUE (tenant, seq));
      INSERT INTO "${schema}".pairs SELECT t, s, t || s FROM unnest(ARRAY['b', 'a', 'c']) AS t, generate_series(1, 400) AS s;
      CREATE TABLE "${schema}".loose (id int NOT NULL);
      CREATE TABLE "${schema}".exprs (id int NOT NULL, email text NOT NULL);
      CREATE UNIQUE INDEX ON "${schema}".exprs (id, lower(email));
      CREATE TABLE "${schema}".covering (id int NOT NULL, email text NOT NULL);
      CREATE UNIQUE INDEX ON "${schema}".covering (id) INCLUDE (email);
      -- Temporal keys: ten rows in each millisecond, a microsecond apart (a JS Date cannot tell them apart).
      CREATE TABLE "${schema}".local_events (at timestamp NOT NULL, id int NOT NULL, PRIMARY KEY (at, id));
      INSERT INTO "${schema}".local_events SELECT timestamp '2026-03-29 00:30:00' + (i / 10) * interval '1 millisecond' + (i % 10) * interval '1 microsecond', i FROM generate_series(0, 999) AS i;
      CREATE TABLE "${schema}".utc_events (at timestamptz PRIMARY KEY, v int NOT NULL);
      INSERT INTO "${schema}".utc_events SELECT timestamptz '2026-03-29T00:30:00Z' + (i / 10) * interval '1 millisecond' + (i % 10) * interval '1 microsecond', i FROM generate_series(0, 999) AS i;
      CREATE TABLE "${schema}".days (day date PRIMARY KEY, v int NOT NULL);
      INSERT INTO "${schema}".days SELECT date '2026-01-01' + i, i FROM generate_series(0, 99) AS i;
      CREATE TABLE "${schema}".nullable (code text UNIQUE, v int);
      INSERT INTO "${schema}".nullable VALUES ('a', 1), (NULL, 2), ('b', 3);`);
    connection = new PostgresConnection(client);
  });
  after(async () => {
    client.release();
    await pool.end();
    await cleanup();
  });

  it('filters --since as a UTC instant on timestamp, timestamptz, date and ISO-text columns, in any time zone of the process', async () => {
    // node-postgres would send a Date as the process's local time with its offset, which a
    // timestamp column reads without the offset and a text column compares as text.
    await pool.query(`CREATE TABLE "${schema}".since_kinds (id int PRIMARY KEY, local timestamp NOT NULL, utc timestamptz NOT NULL, day date NOT NULL, iso text NOT NULL);
      INSERT INTO "${schema}".since_kinds SELECT i, timestamp '2026-02-01 00:00' + i * interval '1 hour', timestamptz '2026-02-01T00:00:00Z' + i * interval '1 hour',
        date '2026-02-01' + i / 24, to_char(timestamp '2026-02-01 00:00' + i * interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM generate_series(0, 47) AS i`);
    const ids = (from: number) => Array.from({ length: 48 - from }, (_, i) => from + i);
    const cases = [
      ['local', new Date('2026-02-01T12:00:00Z'), ids(12)],
      ['utc', new Date('2026-02-01T12:00:00Z'), ids(12)],
      ['iso', new Date('2026-02-01T12:00:00Z'), ids(12)],
      ['day', new Date('2026-02-02T00:00:00Z'), ids(24)],
    ] as const;
    for (const zone of ['Pacific/Kiritimati', 'America/Adak']) {
      for (const [column, since, expected] of cases) {
        const reader = await open({ table: `${schema}.since_kinds`, key: 'id', sinceColumn: column });
        const { rows } = await inTimeZone(zone, () => readAll(reader, whole, 100, { since }));
        assert.deepEqual(
          rows.map((r) => Number(r.id)),
          expected,
          `${column} in ${zone}`,
        );
      }
    }
  });

  it('reads every row once across batches, with where and since, and plans partitions that cover the table', async () => {
    const reader = await open({ table: `${schema}.items`, key: 'id', where: 'flag = 1', sinceColumn: 'at' });
    const since = new Date(Date.UTC(2026, 0, 1) + 1000 * 1000);
    const { rows } = await readAll(reader, whole, 97, { since });
    const expected = Array.from({ length: N }, (_, i) => i + 1).filter((i) => i % 3 === 0 && i >= 1000);
    assert.deepEqual(
      rows.map((r) => Number(r.id)),
      expected,
    );
    assert.equal(await reader.count!({ partition: whole, cursor: null, filter: { since } }), expected.length);
    const all = await open({ table: `${schema}.items`, key: 'id' });
    for (const n of [1, 3, 7]) {
      const partitions = await all.plan({ partitions: n, filter: {} });
      assert.equal(partitions.length, n);
      const seen: number[] = [];
      for (const p of partitions) seen.push(...(await readAll(all, p, 500)).rows.map((r) => Number(r.id)));
      assert.deepEqual(
        seen,
        Array.from({ length: N }, (_, i) => i + 1),
      );
    }
    // A gapless bigint key is cut by arithmetic, its bounds as node-postgres reads a bigint (text).
    const seen = recording(connection);
    const dense = await sqlKeyset({ table: `${schema}.items`, key: 'id' }).open({ storeConnection: seen.connection });
    seen.statements.length = 0;
    assert.deepEqual(
      (await dense.plan({ partitions: 3, filter: {} })).map((p) => [p.lower, p.upper]),
      [
        [null, ['1002']],
        [['1002'], ['2003']],
        [['2003'], null],
      ],
    );
    assert.ok(!seen.statements.some((sql) => /row_number/.test(sql)), seen.statements.join(' | '));
    const point = await all.split!({ partition: whole, cursor: ['1000'], filter: {}, minItems: 100 });
    assert.deepEqual(point, [String(1000 + Math.floor((N - 1000) / 2) + 1)]);
  });

  it('walks a composite key and finds tables on the search path', async () => {
    const reader = await open({ table: 'pairs', key: ['tenant', 'seq'] });
    const { rows } = await readAll(reader, whole, 64);
    assert.deepEqual(
      rows.map((r) => `${r.tenant}/${r.seq}`),
      ['a', 'b', 'c'].flatMap((t) => Array.from({ length: 400 }, (_, i) => `${t}/${i + 1}`)),
    );
    const partitions = await reader.plan({ partitions: 5, filter: {} });
    let total = 0;
    for (const p of partitions) total += (await readAll(reader, p, 64)).rows.length;
    assert.equal(total, 1200);
    const [found] = await reader.refetch!([{ key: '["c",5]', payload: { tenant: 'c', seq: 5 } }]);
    assert.deepEqual(found?.item, { tenant: 'c', seq: 5, v: 'c5' });
  });

  it('walks timestamp, timestamptz and date keys exactly: microseconds kept, item keys distinct, whatever the process time zone', async () => {
    const zone = process.env.TZ;
    // Away from UTC, a timestamp without time zone read as a local-time Date shifts by hours (and
    // Europe/Berlin skips 02:00-03:00 on 2026-03-29, so some local times do not exist at all).
    process.env.TZ = 'Europe/Berlin';
    try {
      for (const [table, key, column, total] of [
        ['local_events', ['at', 'id'], 'id', 1000],
        ['utc_events', 'at', 'v', 1000],
        ['days', 'day', 'v', 100],
      ] as const) {
        const source = sqlKeyset({ table, key });
        const reader = await source.open({ storeConnection: connection });
        const { rows, reads } = await readAll(reader, whole, 7);
        assert.deepEqual(
          rows.map((r) => Number(r[column])),
          Array.from({ length: total }, (_, i) => i),
          `${table}: every row once, in key order`,
        );
        assert.ok(reads >= total / 7, `${table}: read in batches`);
        assert.ok(
          rows.every((r) => !Object.keys(r).some((k) => k.startsWith('sluice_'))),
          `${table}: the rows hold their own columns only`,
        );
        assert.equal(new Set(rows.map((r) => source.defaultKey!(r as never))).size, total, `${table}: every row has its own item key`);
        const partitions = await reader.plan({ partitions: 4, filter: {} });
        assert.equal(partitions.length, 4);
        const seen: number[] = [];
        for (const p of partitions) seen.push(...(await readAll(reader, p, 50)).rows.map((r) => Number(r[column])));
        assert.deepEqual(
          seen,
          Array.from({ length: total }, (_, i) => i),
          `${table}: the partitions cover every row once`,
        );
        const point = await reader.split!({ partition: whole, cursor: null, filter: {}, minItems: 10 });
        assert.ok(point !== null && JSON.stringify(point).length > 2, `${table}: split at a key`);
      }
      const reader = await open({ table: 'local_events', key: ['at', 'id'] });
      const first = await reader.read({ partition: whole, cursor: null, limit: 3, filter: {} });
      assert.deepEqual(first.cursor, ['2026-03-29T00:30:00.000002', 2], 'the cursor holds the exact local timestamp');
      const days = await open({ table: 'days', key: 'day' });
      assert.deepEqual((await days.read({ partition: whole, cursor: null, limit: 2, filter: {} })).cursor, ['2026-01-02']);
      const utc = await open({ table: 'utc_events', key: 'at' });
      assert.deepEqual((await utc.read({ partition: whole, cursor: ['2026-03-29T00:30:00.000009Z'], limit: 1, filter: {} })).cursor, [
        '2026-03-29T00:30:00.001000Z',
      ]);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('says what is wrong with the table, the columns or the key', async () => {
    const fails = (options: SqlKeysetOptions, message: string | RegExp) =>
      assert.rejects(
        open(options),
        (e: unknown) => e instanceof SourceError && (typeof message === 'string' ? e.message === message : message.test(e.message)),
      );
    await fails(
      { table: 'emails', key: 'id' },
      new RegExp(`^table "emails" does not exist in PostgreSQL database "[^"]+" \\(search_path schemas: ${schema}\\)$`),
    );
    await fails(
      { table: `${schema}.emails`, key: 'id' },
      new RegExp(`^table "${schema}\\.emails" does not exist in PostgreSQL database "[^"]+"$`),
    );
    await fails({ table: 'items', key: 'uuid' }, 'column "uuid" not found in table "items"; its columns are: id, flag, at');
    for (const [table, key] of [
      ['loose', 'id'],
      ['exprs', 'id'],
      ['pairs', 'seq'],
    ] as const) {
      await fails(
        { table, key },
        `key (${key}) of table "${table}" is not unique: keyset pagination needs a unique key; add a UNIQUE index on (${key}) or choose the primary key`,
      );
    }
    await open({ table: 'covering', key: 'id' });
    await fails(
      { table: 'nullable', key: 'code' },
      /^key column "code" of table "nullable" has NULL values in 1 row: a keyset source needs a key without NULLs/,
    );
    await open({ table: 'nullable', key: 'code', where: 'code IS NOT NULL' });
  });
});
