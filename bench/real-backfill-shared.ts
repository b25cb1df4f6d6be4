/**
 * The parts of the real-backfill benchmark every variant shares: the `emails` table, the scoring
 * done in JavaScript, the one UPDATE per batch, and the two reference implementations (the
 * hand-written keyset loop and Sluice). bench/real-backfill-postgres.ts and
 * bench/real-backfill-peers.ts both measure with these, so that a ratio means the same work.
 */
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset } from '../src/index.js';
import { openPostgresStore } from '../src/stores/postgres/index.js';
import { pgBodyColumn } from './row-width.js';

export interface EmailRow {
  id: number;
  sender: string;
  subject: string;
  links: number;
  /** Wide rows only (`--body-bytes`): the message's text, which the scoring reads as a real one would. */
  body?: string;
}

/** The work: the same scoring in every variant. */
export function score(row: EmailRow): number {
  let s = row.sender.endsWith('.biz') ? 0.4 : 0;
  if (/urgent|verify|password/i.test(row.subject)) s += 0.3;
  if (row.body?.includes('unsubscribe')) s += 0.1;
  return Math.min(1, s + row.links * 0.05);
}

/** One statement writes a whole batch of scores back. */
export const updateScoresSql = (table: string) =>
  `UPDATE ${table} AS t SET risk_score = v.s FROM unnest($1::bigint[], $2::real[]) AS v(id, s) WHERE t.id = v.id`;

/** The columns every variant reads: the body too on wide rows. */
export const emailColumns = (bodyBytes: number) => ['id', 'sender', 'subject', 'links', ...(bodyBytes > 0 ? ['body'] : [])];

export const selectRowsSql = (table: string, bodyBytes: number) => `SELECT ${emailColumns(bodyBytes).join(', ')} FROM ${table}`;

/** Runs `use` on a connection of its own, closed afterwards. */
export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Creates `schema.emails` with ids 1..rows (dense), a body of `bodyBytes` on wide rows, and the loop's checkpoint table; returns the table's name. */
export async function createEmailsTable(url: string, schema: string, rows: number, bodyBytes = 0): Promise<string> {
  const table = `${schema}.emails`;
  const body = pgBodyColumn(table, bodyBytes);
  await withClient(url, async (admin) => {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, sender text NOT NULL, subject text NOT NULL, links int NOT NULL, risk_score real${body.definition})`,
    );
    for (const statement of body.storage) await admin.query(statement);
    await admin.query(`INSERT INTO ${table} (${emailColumns(bodyBytes).join(', ')}) SELECT g, CASE WHEN g % 7 = 0 THEN 'x@promo.biz' ELSE 'a@example.com' END,
        CASE WHEN g % 5 = 0 THEN 'URGENT: verify' ELSE 'weekly report' END, g % 9${body.value('g')} FROM generate_series(1, ${rows}) g`);
    await admin.query(`CREATE TABLE ${schema}.checkpoints (range_id int PRIMARY KEY, cursor bigint NOT NULL, processed bigint NOT NULL)`);
    await admin.query(`VACUUM ANALYZE ${table}`);
  });
  return table;
}

/** Clears the scores, the loop's checkpoints and Sluice's store, and vacuums, so that every variant starts from the same table. */
export async function resetScores(url: string, schema: string, table: string): Promise<void> {
  await withClient(url, async (admin) => {
    await admin.query(`UPDATE ${table} SET risk_score = NULL WHERE risk_score IS NOT NULL`);
    await admin.query(`TRUNCATE ${schema}.checkpoints`);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema}_sluice CASCADE`);
    await admin.query(`VACUUM ${table}`);
  });
}

/** Throws unless every row with id ≤ `upToId` is scored and none above it is (the proof a variant did all of its work and no other). */
export async function verifyScored(url: string, table: string, upToId: number): Promise<void> {
  const {
    rows: [counts],
  } = await withClient(url, (admin) =>
    admin.query<{ missing: string; extra: string }>(
      `SELECT count(*) FILTER (WHERE id <= $1 AND risk_score IS NULL) AS missing, count(*) FILTER (WHERE id > $1 AND risk_score IS NOT NULL) AS extra FROM ${table}`,
      [upToId],
    ),
  );
  if (Number(counts!.missing) !== 0 || Number(counts!.extra) !== 0) {
    throw new Error(`${counts!.missing} rows with id ≤ ${upToId} left unscored and ${counts!.extra} above it scored`);
  }
}

export async function dropBenchSchemas(url: string, schema: string): Promise<void> {
  await withClient(url, async (admin) => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema}_sluice CASCADE`);
  });
}

export interface BackfillSpec {
  url: string;
  schema: string;
  table: string;
  rows: number;
  batchSize: number;
  /** 0: narrow rows; else the bytes of the body every variant reads (`--body-bytes`). */
  bodyBytes: number;
}

/** The hand-written loop over ids in (lower, upper]: keyset read, score, UPDATE, checkpoint, one transaction per batch. */
async function loop(spec: BackfillSpec, rangeId: number, lower: number, upper: number): Promise<number> {
  const { schema, table, batchSize, bodyBytes } = spec;
  return withClient(spec.url, async (client) => {
    await client.query(`INSERT INTO ${schema}.checkpoints VALUES ($1, $2, 0)`, [rangeId, lower]);
    let cursor = lower;
    let total = 0;
    for (;;) {
      await client.query('BEGIN');
      const { rows: batch } = await client.query<EmailRow>(
        `${selectRowsSql(table, bodyBytes)} WHERE id > $1 AND id <= $2 AND risk_score IS NULL ORDER BY id LIMIT $3`,
        [cursor, upper, batchSize],
      );
      if (batch.length === 0) {
        await client.query('COMMIT');
        break;
      }
      await client.query(updateScoresSql(table), [batch.map((r) => r.id), batch.map(score)]);
      cursor = Number(batch[batch.length - 1]!.id);
      await client.query(`UPDATE ${schema}.checkpoints SET cursor = $2, processed = processed + $3 WHERE range_id = $1`, [
        rangeId,
        cursor,
        batch.length,
      ]);
      await client.query('COMMIT');
      total += batch.length;
    }
    return total;
  });
}

/** The hand-written loop on `connections` connections, one key range each; returns the elapsed milliseconds. */
export async function handWrittenLoop(spec: BackfillSpec, connections: number): Promise<number> {
  const { rows } = spec;
  const started = performance.now();
  const per = Math.ceil(rows / connections);
  const totals = await Promise.all(Array.from({ length: connections }, (_, i) => loop(spec, i, i * per, Math.min(rows, (i + 1) * per))));
  const elapsed = performance.now() - started;
  if (totals.reduce((a, b) => a + b, 0) !== rows) throw new Error(`the loop scored ${totals} rows, expected ${rows}`);
  return elapsed;
}

/**
 * How Sluice runs the real backfill: `transactional` (exactly once: the UPDATE through the batch's
 * transaction, with its checkpoint) or `idempotent` (the UPDATE, which sets a value computed from
 * the row and is safe to repeat, commits on its own pool connection; checkpoints coalesced every
 * 1 s or 100 batches). `syncCommit`: transactional batches wait for their WAL flush (the
 * store's `asyncBatchCommit: false`).
 */
export interface SluiceMode {
  delivery: 'transactional' | 'idempotent';
  syncCommit?: boolean;
}

/** Sluice on the real backfill; returns the elapsed milliseconds. */
export async function sluiceBackfill(
  spec: BackfillSpec,
  concurrency: number,
  mode: SluiceMode = { delivery: 'transactional' },
): Promise<number> {
  const { url, schema, table, rows, batchSize, bodyBytes } = spec;
  const store = await openPostgresStore({
    connectionString: url,
    schema: `${schema}_sluice`,
    poolSize: 2 * concurrency + 2,
    asyncBatchCommit: !mode.syncCommit,
  });
  // The idempotent write's own connections, one per lane, as a service's pool would give it.
  const writes = mode.delivery === 'idempotent' ? new pg.Pool({ connectionString: url, max: concurrency }) : undefined;
  const def = defineBackfill<EmailRow>({
    name: 'risk-scores',
    source: sqlKeyset({ table, key: 'id', columns: emailColumns(bodyBytes), where: 'risk_score IS NULL' }),
    delivery: mode.delivery,
    batchSize,
    concurrency,
    async process(batch, ctx) {
      // The same single statement per batch as the loop: through the batch's own transaction, or on its own.
      const client = writes ?? (ctx.tx!.raw as pg.PoolClient);
      await client.query(updateScoresSql(table), [batch.map((r) => r.id), batch.map(score)]);
    },
  });
  const engine = createSluice({ store, backfills: [def] });
  try {
    const started = performance.now();
    const outcome = await (await engine.start('risk-scores')).done;
    const elapsed = performance.now() - started;
    if (outcome.counts.processed !== rows) throw new Error(`sluice scored ${outcome.counts.processed} rows, expected ${rows}`);
    return elapsed;
  } finally {
    await engine.close();
    await store.close();
    await writes?.end();
  }
}

/** The variant's name in the tables. */
export function sluiceName(concurrency: number, mode: SluiceMode = { delivery: 'transactional' }): string {
  return `sluice ${mode.delivery}${mode.syncCommit ? ' (synchronous commit)' : ''}, concurrency ${concurrency}`;
}

/** `--modes transactional,idempotent` (and `--sync-commit`: transactional once more, waiting for each flush). */
export function sluiceModes(list: string, syncCommit: boolean): SluiceMode[] {
  const modes = list
    .split(',')
    .filter(Boolean)
    .map((name): SluiceMode => {
      if (name !== 'transactional' && name !== 'idempotent') throw new Error(`--modes: transactional or idempotent, got ${name}`);
      return { delivery: name };
    });
  return syncCommit ? [...modes, { delivery: 'transactional', syncCommit: true }] : modes;
}
