import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { count as drizzleCount, inArray } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3';
import { integer as pgInteger, pgTable, text as pgText } from 'drizzle-orm/pg-core';
import { integer as sqliteInteger, sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { createSluice, defineBackfill, type ProcessContext, sqlKeyset, type Store } from '../../src/index.js';
import { openPostgresStore, pgClient, pgTransactionPool } from '../../src/postgres.js';
import { openSqliteStore, sqliteDatabase } from '../../src/sqlite.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

// Kysely and Drizzle writing inside Sluice's batch transaction, on real PostgreSQL and real SQLite
// files: the ORM's writes commit with the checkpoint and roll back with a failed batch (issue 17, point 4).

interface Item {
  id: number;
  name: string;
}
interface Tables {
  items: { id: number; name: string };
  copied: { id: number; name: string };
}

const ROWS = 120;
const POISON = 70;

/** The ORM-specific part: copy a batch into `copied`, and count the batch's rows already there. */
interface Orm {
  copy(ctx: ProcessContext<'transactional'>, batch: Item[]): Promise<void>;
  alreadyCopied(ctx: ProcessContext<'transactional'>, ids: number[]): Promise<number>;
}

const pgCopied = pgTable('copied', { id: pgInteger('id').primaryKey(), name: pgText('name').notNull() });
const sqliteCopied = sqliteTable('copied', { id: sqliteInteger('id').primaryKey(), name: sqliteText('name').notNull() });

const orms: Record<'kysely' | 'drizzle', Record<'postgres' | 'sqlite', Orm>> = {
  kysely: {
    postgres: {
      copy: async (ctx, batch) => {
        await kyselyPg(ctx)
          .insertInto('copied')
          .values(batch.map((i) => ({ id: i.id, name: i.name.toUpperCase() })))
          .execute();
      },
      alreadyCopied: async (ctx, ids) =>
        Number(
          (
            await kyselyPg(ctx)
              .selectFrom('copied')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('id', 'in', ids)
              .executeTakeFirstOrThrow()
          ).n,
        ),
    },
    sqlite: {
      copy: async (ctx, batch) => {
        await kyselySqlite(ctx)
          .insertInto('copied')
          .values(batch.map((i) => ({ id: i.id, name: i.name.toUpperCase() })))
          .execute();
      },
      alreadyCopied: async (ctx, ids) =>
        Number(
          (
            await kyselySqlite(ctx)
              .selectFrom('copied')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('id', 'in', ids)
              .executeTakeFirstOrThrow()
          ).n,
        ),
    },
  },
  drizzle: {
    postgres: {
      copy: async (ctx, batch) => {
        await drizzlePg({ client: pgClient(ctx) })
          .insert(pgCopied)
          .values(batch.map((i) => ({ id: i.id, name: i.name.toUpperCase() })));
      },
      alreadyCopied: async (ctx, ids) =>
        (
          await drizzlePg({ client: pgClient(ctx) })
            .select({ n: drizzleCount() })
            .from(pgCopied)
            .where(inArray(pgCopied.id, ids))
        )[0]!.n,
    },
    sqlite: {
      copy: async (ctx, batch) => {
        await drizzleSqlite({ client: sqliteDatabase(ctx) })
          .insert(sqliteCopied)
          .values(batch.map((i) => ({ id: i.id, name: i.name.toUpperCase() })));
      },
      alreadyCopied: async (ctx, ids) =>
        (
          await drizzleSqlite({ client: sqliteDatabase(ctx) })
            .select({ n: drizzleCount() })
            .from(sqliteCopied)
            .where(inArray(sqliteCopied.id, ids))
        )[0]!.n,
    },
  },
};

/** Kysely over the batch transaction's client: a pool of one that never releases it. */
function kyselyPg(ctx: ProcessContext<'transactional'>): Kysely<Tables> {
  return new Kysely<Tables>({ dialect: new PostgresDialect({ pool: pgTransactionPool(ctx) }) });
}

/** Kysely over the store's SQLite connection, which holds the batch transaction (never destroy() it: that closes the database). */
function kyselySqlite(ctx: ProcessContext<'transactional'>): Kysely<Tables> {
  return new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqliteDatabase(ctx) }) });
}

/**
 * Copies `items` into `copied` through the ORM; the batch holding POISON fails once after its ORM
 * writes. Had they outlived the failed attempt, the retry would meet them (the check below) and
 * its insert would break the primary key.
 */
async function backfillThrough(orm: Orm, store: Store, copiedRows: () => Promise<{ n: number; upper: number }>): Promise<void> {
  let failed = false;
  const leftovers: number[] = [];
  const def = defineBackfill<Item>({
    name: 'orm-copy',
    source: sqlKeyset({ table: 'items', key: 'id' }),
    delivery: 'transactional',
    batchSize: 25,
    retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    async process(batch, ctx) {
      const ids = batch.map((i) => Number(i.id));
      if (ctx.attempt > 1) leftovers.push(await orm.alreadyCopied(ctx, ids));
      await orm.copy(
        ctx,
        batch.map((i) => ({ id: Number(i.id), name: i.name })),
      );
      if (!failed && ids.includes(POISON)) {
        failed = true;
        throw new Error('the batch fails after the ORM wrote');
      }
    },
  });
  const outcome = await (await createSluice({ store, backfills: [def] }).start('orm-copy')).done;
  assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
  assert.equal(failed, true);
  assert.deepEqual(leftovers, [0], "the failed attempt's ORM writes rolled back with it");
  assert.equal(outcome.counts.processed, ROWS);
  assert.equal(outcome.counts.quarantined, 0);
  assert.deepEqual(await copiedRows(), { n: ROWS, upper: ROWS }, 'every row copied once, through the ORM');
}

for (const name of ['kysely', 'drizzle'] as const) {
  describe(`${name} inside the batch transaction`, () => {
    it('on PostgreSQL: its writes commit with the checkpoint and roll back with a failed batch', async () => {
      const { schema, cleanup } = await testSchema(`orm_${name}`);
      const admin = new pg.Client({ connectionString: TEST_PG });
      await admin.connect();
      await admin.query(
        `CREATE TABLE "${schema}".items (id int PRIMARY KEY, name text NOT NULL); CREATE TABLE "${schema}".copied (id int PRIMARY KEY, name text NOT NULL)`,
      );
      await admin.query(`INSERT INTO "${schema}".items SELECT i, 'item ' || i FROM generate_series(1, ${ROWS}) AS i`);
      const store = await openPostgresStore({ connectionString: TEST_PG, schema, searchPath: schema });
      try {
        await backfillThrough(
          orms[name].postgres,
          store,
          async () =>
            (
              await admin.query(
                `SELECT count(*)::int AS n, count(*) FILTER (WHERE name = upper('item ' || id))::int AS upper FROM "${schema}".copied`,
              )
            ).rows[0],
        );
      } finally {
        await store.close();
        await admin.end();
        await cleanup();
      }
    });

    it('on a SQLite file: its writes commit with the checkpoint and roll back with a failed batch', async () => {
      const { dir, cleanup } = await tempDir();
      const path = join(dir, 'store.db');
      const db = new Database(path);
      db.exec(
        `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE TABLE copied (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`,
      );
      db.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) INSERT INTO items SELECT i, 'item ' || i FROM n`,
      ).run();
      const store = await openSqliteStore(path);
      try {
        await backfillThrough(
          orms[name].sqlite,
          store,
          async () =>
            db.prepare(`SELECT count(*) AS n, sum(name = upper('item ' || id)) AS upper FROM copied`).get() as { n: number; upper: number },
        );
      } finally {
        await store.close();
        db.close();
        await cleanup();
      }
    });
  });
}

describe('the batch transaction on SQLite', () => {
  it('refuses an array parameter with what to do instead, and pgClient(ctx) says the store is SQLite', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'store.db');
    const db = new Database(path);
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items VALUES (1, 'a'), (2, 'b')`);
    const store = await openSqliteStore(path);
    const errors: unknown[] = [];
    try {
      const def = defineBackfill<Item>({
        name: 'sqlite-arrays',
        source: sqlKeyset({ table: 'items', key: 'id' }),
        delivery: 'transactional',
        async process(batch, ctx) {
          await ctx.tx.execute('UPDATE items SET name = upper(name) WHERE id IN (SELECT value FROM json_each(?))', [
            JSON.stringify(batch.map((i) => i.id)),
          ]);
          await ctx.tx
            .execute('UPDATE items SET name = name WHERE id IN (?)', [batch.map((i) => i.id)])
            .catch((e: unknown) => errors.push(e));
          try {
            pgClient(ctx);
          } catch (error) {
            errors.push(error);
          }
        },
      });
      const outcome = await (await createSluice({ store, backfills: [def] }).start('sqlite-arrays')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.deepEqual(
        db.prepare('SELECT name FROM items ORDER BY id').pluck().all(),
        ['A', 'B'],
        'the json_each form the hint names works',
      );
      assert.equal(errors.length, 2);
      assert.match(String((errors[0] as Error).message), /SQLite has no array type, but a parameter is an array \(2 values\)/);
      assert.match(String((errors[0] as { hint?: string }).hint), /json_each/);
      assert.match(
        String((errors[1] as Error).message),
        /pgClient\(ctx\): the batch transaction is on SQLite, not PostgreSQL: use sqliteDatabase\(ctx\) from sluice\/sqlite/,
      );
    } finally {
      await store.close();
      db.close();
      await cleanup();
    }
  });
});
