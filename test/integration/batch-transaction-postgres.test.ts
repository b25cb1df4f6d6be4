import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset, SqlPlaceholderError } from '../../src/index.js';
import { openPostgresStore, pgClient, type PostgresStore } from '../../src/postgres.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';

interface Row {
  id: number;
  meta: Record<string, unknown>;
}

// The batch transaction as a PostgreSQL user writes it: SQL passed as written ($n placeholders,
// the jsonb ? operator), arrays as parameters, the driver's client typed (issue 17, point 3).
describe('the batch transaction on PostgreSQL', () => {
  let schema: string;
  let cleanup: () => Promise<void>;
  let admin: pg.Client;
  let store: PostgresStore;

  before(async () => {
    ({ schema, cleanup } = await testSchema('btx'));
    admin = new pg.Client({ connectionString: TEST_PG });
    await admin.connect();
    store = await openPostgresStore({ connectionString: TEST_PG, schema, searchPath: schema });
  });
  after(async () => {
    await store?.close();
    await admin?.end();
    await cleanup?.();
  });

  async function table(name: string, rows: number): Promise<void> {
    // Every third row has a "src" key in meta: the rows a `meta ? 'src'` condition selects.
    await admin.query(
      `CREATE TABLE "${schema}".${name} (id int PRIMARY KEY, meta jsonb NOT NULL, label text, tagged boolean NOT NULL DEFAULT false, writes int NOT NULL DEFAULT 0)`,
    );
    await admin.query(
      `INSERT INTO "${schema}".${name} (id, meta) SELECT i, CASE WHEN i % 3 = 0 THEN jsonb_build_object('src', 'import') ELSE '{}'::jsonb END FROM generate_series(1, $1) AS i`,
      [rows],
    );
  }

  it('reads with a jsonb ? condition in where, and writes with ? and $n in ctx.tx, passed as written', async () => {
    await table('docs', 300);
    const def = defineBackfill<Row>({
      name: 'jsonb-where',
      source: sqlKeyset({ table: 'docs', key: 'id', where: "meta ? 'src'" }),
      delivery: 'transactional',
      batchSize: 40,
      concurrency: 2,
      async process(batch, ctx) {
        // ctx.tx is typed present for a transactional backfill: no `!`.
        await ctx.tx.execute(`UPDATE docs SET tagged = true, writes = writes + 1 WHERE meta ? 'src' AND id = ANY($1::int[])`, [
          batch.map((r) => r.id),
        ]);
        // A statement without parameters is passed as written too.
        const [row] = await ctx.tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM docs WHERE meta ?| array['src', 'x']`);
        assert.equal(row!.n, 100);
      },
    });
    const outcome = await (await createSluice({ store, backfills: [def] }).start('jsonb-where')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    assert.equal(outcome.counts.processed, 100);
    const { rows } =
      await admin.query(`SELECT count(*) FILTER (WHERE tagged)::int AS tagged, count(*) FILTER (WHERE tagged AND id % 3 <> 0)::int AS wrong, max(writes) AS max
      FROM "${schema}".docs`);
    assert.deepEqual(rows[0], { tagged: 100, wrong: 0, max: 1 });
  });

  it('writes a batch set-based with array parameters: UPDATE … FROM unnest($1::int[], $2::text[])', async () => {
    await table('labels', 1000);
    const def = defineBackfill<Row>({
      name: 'unnest-write',
      source: sqlKeyset({ table: 'labels', key: 'id' }),
      delivery: 'transactional',
      batchSize: 250,
      async process(batch, ctx) {
        const { changes } = await ctx.tx.execute(
          `UPDATE labels SET label = u.label, writes = writes + 1 FROM unnest($1::int[], $2::text[]) AS u(id, label) WHERE labels.id = u.id`,
          [batch.map((r) => r.id), batch.map((r) => `label-${r.id}`)],
        );
        assert.equal(changes, batch.length);
      },
    });
    const outcome = await (await createSluice({ store, backfills: [def] }).start('unnest-write')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    const { rows } = await admin.query(
      `SELECT count(*) FILTER (WHERE label = 'label-' || id)::int AS labelled, min(writes) AS min, max(writes) AS max FROM "${schema}".labels`,
    );
    assert.deepEqual(rows[0], { labelled: 1000, min: 1, max: 1 });
  });

  it("hands the batch transaction's pg client typed, and its writes roll back with a failed batch", async () => {
    await table('native', 60);
    let failFirst = true;
    let attempts = 0;
    const def = defineBackfill<Row>({
      name: 'native-client',
      source: sqlKeyset({ table: 'native', key: 'id' }),
      delivery: 'transactional',
      batchSize: 60,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      async process(batch, ctx) {
        attempts++;
        const client: pg.PoolClient = pgClient(ctx);
        await client.query('UPDATE native SET writes = writes + 1 WHERE id = ANY($1)', [batch.map((r) => r.id)]);
        if (failFirst) {
          failFirst = false;
          throw new Error('the first attempt fails after writing');
        }
      },
    });
    const outcome = await (await createSluice({ store, backfills: [def] }).start('native-client')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    assert.equal(attempts, 2);
    const { rows } = await admin.query(`SELECT min(writes) AS min, max(writes) AS max FROM "${schema}".native`);
    assert.deepEqual(rows[0], { min: 1, max: 1 }, "the failed attempt's writes rolled back with it");
  });

  it('keeps ? placeholders working, and says what to do when a ? statement holds a jsonb ? too', async () => {
    await table('portable', 30);
    const seen: unknown[] = [];
    const def = defineBackfill<Row>({
      name: 'portable-sql',
      source: sqlKeyset({ table: 'portable', key: 'id' }),
      delivery: 'transactional',
      batchSize: 30,
      retry: { attempts: 1 },
      async process(batch, ctx) {
        await ctx.tx.executeMany(
          'UPDATE portable SET label = ?, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [`p${r.id}`, r.id]),
        );
        try {
          await ctx.tx.execute(`UPDATE portable SET tagged = true WHERE meta ? 'src' AND id = ?`, [batch[0]!.id]);
        } catch (error) {
          seen.push(error);
        }
      },
    });
    const outcome = await (await createSluice({ store, backfills: [def] }).start('portable-sql')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    const { rows } = await admin.query(`SELECT count(*) FILTER (WHERE label = 'p' || id)::int AS labelled FROM "${schema}".portable`);
    assert.equal(rows[0].labelled, 30);
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof SqlPlaceholderError, String(seen[0]));
    assert.match((seen[0] as SqlPlaceholderError).message, /has 2 "\?" but 1 parameter/);
    assert.match((seen[0] as SqlPlaceholderError).hint ?? '', /\$1, \$2 placeholders/);
  });
});
