import { join } from 'node:path';
import pg from 'pg';
import { TEST_PG, testSchema } from './postgres.js';
import { tempDir } from './temp.js';

/**
 * What the CLI tests on a PostgreSQL store start from: a schema of their own holding the store and
 * an `items` table of `rows` rows to backfill (`result` NULL, `writes` 0), a directory for the
 * config, and the environment and `--db` arguments that point `sluice` at that store.
 */
export async function itemsTable(prefix: string, rows: number) {
  const { schema, cleanup: dropSchema } = await testSchema(prefix);
  const { dir, cleanup: removeDir } = await tempDir();
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(
    `CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, value int NOT NULL, result int, writes int NOT NULL DEFAULT 0)`,
  );
  await admin.query(`INSERT INTO "${schema}".items (id, value) SELECT i, i FROM generate_series(1, ${rows}) AS i`);
  return {
    schema,
    dir,
    admin,
    configPath: join(dir, 'sluice.config.ts'),
    env: { SLUICE_PG_SCHEMA: schema },
    args: (...rest: string[]) => [...rest, '--db', TEST_PG],
    /** How many rows have a result, and the fewest and most writes of a row (1 and 1: exactly once). */
    rows: async () =>
      (await admin.query(`SELECT COUNT(result)::int AS scored, MIN(writes) AS min, MAX(writes) AS max FROM "${schema}".items`)).rows[0],
    cleanup: async () => {
      await admin.end();
      await dropSchema();
      await removeDir();
    },
  };
}
