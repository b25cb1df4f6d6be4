import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { TEST_PG, testSchema } from './postgres.js';
import { tempDir } from './temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

/**
 * For tests that run `sluice` processes against PostgreSQL: a table of `rows` items, a store in
 * the same schema, and a config with a transactional backfill `pgjob` that scores each row (and
 * counts its writes), sleeping `BATCH_DELAY_MS` (from the process's environment) per batch.
 */
export async function pgItemsBackfill(prefix: string, rows: number) {
  const { schema, cleanup: dropSchema } = await testSchema(prefix);
  const { dir, cleanup: removeDir } = await tempDir();
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, value int NOT NULL, result int, writes int NOT NULL DEFAULT 0)`);
  await admin.query(`INSERT INTO "${schema}".items (id, value) SELECT i, i FROM generate_series(1, ${rows}) AS i`);
  writeFileSync(join(dir, 'sluice.config.ts'), `import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: string; value: number }>({
    name: 'pgjob',
    source: sqlKeyset({ table: '${schema}.items', key: 'id', where: 'result IS NULL', columns: ['id', 'value'] }),
    delivery: 'transactional',
    batchSize: 200,
    async process(batch, ctx) {
      await ctx.tx!.executeMany('UPDATE "${schema}".items SET result = ?, writes = writes + 1 WHERE id = ?', batch.map((r) => [r.value * 2, r.id]));
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.BATCH_DELAY_MS ?? 0)));
    },
  }),
];
`);
  const env = { SLUICE_PG_SCHEMA: schema };
  const args = (...rest: string[]) => [...rest, '--db', TEST_PG];
  /** Rows scored, and the fewest and most writes of a row. */
  const scored = async () => (await admin.query(`SELECT COUNT(result)::int AS scored, MIN(writes) AS min, MAX(writes) AS max FROM "${schema}".items`)).rows[0];
  return {
    dir, env, args, rows: scored, schema, admin,
    cleanup: async () => {
      await admin.end();
      await dropSchema();
      await removeDir();
    },
  };
}
