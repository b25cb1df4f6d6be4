import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL every developer and CI machine runs (trust auth); override with SLUICE_TEST_PG. */
export const TEST_PG = process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema for one test, dropped by the returned cleanup, so that tests run in parallel. */
export async function testSchema(prefix = 't'): Promise<{ schema: string; cleanup: () => Promise<void> }> {
  const schema = `sluice_${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: TEST_PG });
  await client.connect();
  await client.query(`CREATE SCHEMA "${schema}"`);
  await client.end();
  return {
    schema,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: TEST_PG });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
}
