import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { SqlConnection } from '../../src/core/sql.js';
import type { PostgresConnection } from '../../src/stores/postgres/index.js';

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

/** A database of its own (for what lives in the default schema, or looks at a whole database), dropped by `drop`. */
export async function scratchDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sluice_${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_PG);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_PG });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A connection that forwards to `inner` (a store's read connection), but for the methods given in `overrides`. */
export function forwarding(inner: PostgresConnection, overrides: Partial<SqlConnection>): SqlConnection {
  return {
    dialect: inner.dialect,
    hasSpareConnection: () => inner.hasSpareConnection(),
    query: (sql, params) => inner.query(sql, params),
    execute: (sql, params) => inner.execute(sql, params),
    executeMany: (sql, list) => inner.executeMany(sql, list),
    ...overrides,
  };
}
