/**
 * The throwaway database the foreground benchmarks run in: `accounts` (the foreground's 10,000
 * rows) and `events` (what the backfills score, one float column per backfill variant so that no
 * variant finds another's work done), dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export async function withForegroundDatabase(
  adminUrl: string,
  options: { prefix: string; rows: number; scoreColumns: readonly string[] },
  work: (db: pg.Client, url: string) => Promise<void>,
): Promise<void> {
  const name = `${options.prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  try {
    await db.query('CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)');
    await db.query('INSERT INTO accounts (id) SELECT generate_series(1, 10000)');
    await db.query(
      `CREATE TABLE events (id bigint PRIMARY KEY, payload text NOT NULL, ${options.scoreColumns.map((c) => `${c} float8`).join(', ')})`,
    );
    await db.query(`INSERT INTO events (id, payload) SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, ${options.rows}) AS i`);
    await db.query('VACUUM ANALYZE');
    await work(db, url.toString());
  } finally {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}
