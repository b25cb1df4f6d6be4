import pg from 'pg';
import { redactConnectionString, StoreError } from '../../index.js';
import { demoEmails, type SeedResult } from './seed.js';

const CHUNK = 5000;

/**
 * Creates the demo's `emails` table in the PostgreSQL database (the connection's default schema,
 * where the demo backfill's unqualified `emails` resolves) with the same rows as the SQLite demo.
 * An existing table is kept. Two demos starting at once seed it once (an advisory lock).
 */
export async function seedDemoPostgres(url: string, rows: number, now = Date.now()): Promise<SeedResult> {
  const client = new pg.Client({ connectionString: url, application_name: 'sluice:demo-seed' });
  await client.connect().catch((error: unknown) => {
    throw new StoreError(`cannot connect to ${redactConnectionString(url)} to seed the demo: ${(error as Error).message}`, {
      cause: error,
    });
  });
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('sluice-demo-seed'))");
    const { rows: tables } = await client.query<{ emails: string | null; meta: string | null }>(
      "SELECT to_regclass('emails')::text AS emails, to_regclass('demo_meta')::text AS meta",
    );
    if (tables[0]!.emails !== null) {
      const {
        rows: [count],
      } = await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM emails');
      const seeded =
        tables[0]!.meta === null ? [] : (await client.query<{ value: string }>("SELECT value FROM demo_meta WHERE key = 'seeded_at'")).rows;
      return { rows: Number(count!.n), created: false, seededAt: seeded[0]?.value ?? '' };
    }
    const seededAt = new Date(now).toISOString();
    await client.query('BEGIN');
    await client.query(`CREATE TABLE emails (
        id bigint PRIMARY KEY, sender text NOT NULL, subject text NOT NULL, body text NOT NULL,
        link_count integer NOT NULL, received_at timestamptz NOT NULL, risk_score double precision, score_writes integer NOT NULL DEFAULT 0)`);
    await client.query('CREATE INDEX emails_received_at ON emails (received_at)');
    await client.query('CREATE TABLE demo_meta (key text PRIMARY KEY, value text NOT NULL)');
    let chunk: Array<ReturnType<typeof demoEmails> extends Generator<infer T> ? T : never> = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      await client.query(
        `INSERT INTO emails (id, sender, subject, body, link_count, received_at)
          SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[])`,
        [
          chunk.map((e) => e.id),
          chunk.map((e) => e.sender),
          chunk.map((e) => e.subject),
          chunk.map((e) => e.body),
          chunk.map((e) => e.linkCount),
          chunk.map((e) => e.receivedAt),
        ],
      );
      chunk = [];
    };
    for (const email of demoEmails(rows, now)) {
      chunk.push(email);
      if (chunk.length >= CHUNK) await flush();
    }
    await flush();
    await client.query('INSERT INTO demo_meta (key, value) VALUES ($1, $2), ($3, $4)', ['seeded_at', seededAt, 'rows', String(rows)]);
    await client.query('COMMIT');
    return { rows, created: true, seededAt };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Coverage after a run: how many emails have a score, and whether any was written twice. */
export async function demoCoveragePostgres(
  url: string,
): Promise<{ scored: number; total: number; percent: number; minWrites: number; maxWrites: number }> {
  const client = new pg.Client({ connectionString: url, application_name: 'sluice:demo' });
  await client.connect();
  try {
    const { rows } = await client.query<{ total: number; scored: number; min_writes: number; max_writes: number }>(
      `SELECT COUNT(*)::int AS total, COUNT(risk_score)::int AS scored, COALESCE(MIN(score_writes), 0) AS min_writes, COALESCE(MAX(score_writes), 0) AS max_writes FROM emails`,
    );
    const row = rows[0]!;
    return {
      total: row.total,
      scored: row.scored,
      minWrites: row.min_writes,
      maxWrites: row.max_writes,
      percent: row.total === 0 ? 100 : (row.scored / row.total) * 100,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
