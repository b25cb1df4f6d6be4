import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset } from '../../src/index.js';
import type { DeliveryMode } from '../../src/index.js';
import { openPostgresStore } from '../../src/postgres.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';

const ROWS = 600;

/** One transaction as the server got it: the statements a pooled connection ran from a BEGIN to its end. */
interface Seen {
  begin: string;
  statements: string[];
}

/**
 * A pool whose connections record every statement they send, grouped into transactions, so that
 * the test sees which transactions began with `synchronous_commit = off`.
 */
function recordingPool(): { pool: pg.Pool; transactions: Seen[] } {
  const pool = new pg.Pool({ connectionString: TEST_PG, max: 6 });
  const transactions: Seen[] = [];
  pool.on('connect', (client) => {
    let current: Seen | undefined;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text = typeof first === 'string' ? first : String((first as { text?: string }).text ?? '');
      if (/^\s*BEGIN/.test(text)) {
        current = { begin: text, statements: [] };
        transactions.push(current);
      } else current?.statements.push(text);
      if (/\bCOMMIT\s*$|^\s*ROLLBACK/.test(text)) current = undefined;
      return query(...args);
    };
  });
  return { pool, transactions };
}

async function scenario(options: { delivery: DeliveryMode; asyncBatchCommit?: boolean }) {
  const { schema, cleanup } = await testSchema('acommit');
  const { pool, transactions } = recordingPool();
  const store = await openPostgresStore({
    pool,
    schema,
    ...(options.asyncBatchCommit === undefined ? {} : { asyncBatchCommit: options.asyncBatchCommit }),
  });
  try {
    await pool.query(`CREATE TABLE "${schema}".items (id int PRIMARY KEY, score int)`);
    await pool.query(`INSERT INTO "${schema}".items (id) SELECT i FROM generate_series(1, ${ROWS}) AS i`);
    const inBatch: string[] = [];
    const definition = defineBackfill<{ id: number }>({
      name: 'acommit',
      source: sqlKeyset({ table: `${schema}.items`, key: 'id', columns: ['id'] }),
      delivery: options.delivery,
      batchSize: 100,
      async process(batch, ctx) {
        if (ctx.tx) {
          const [row] = await ctx.tx.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
          inBatch.push(row!.synchronous_commit);
          await ctx.tx.execute(`UPDATE "${schema}".items SET score = id * 2 WHERE id = ANY($1::int[])`, [batch.map((r) => r.id)]);
        } else {
          await pool.query(`UPDATE "${schema}".items SET score = id * 2 WHERE id = ANY($1::int[])`, [batch.map((r) => r.id)]);
        }
      },
    });
    const outcome = await (await createSluice({ store, backfills: [definition] }).start('acommit', { actor: 'test' })).done;
    assert.equal(outcome.state, 'succeeded');
    assert.equal(outcome.counts.processed, ROWS);
    // SET LOCAL ends with its transaction: the pooled connections keep the server's setting.
    const after = await Promise.all([0, 1, 2, 3].map(() => pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit')));
    assert.ok(
      after.every((r) => r.rows[0]!.synchronous_commit === 'on'),
      'no connection went back to the pool with asynchronous commit',
    );
    const checkpoints = transactions.filter((t) => t.statements.some((s) => /WITH cp AS|^EXECUTE /.test(s)));
    const transitions = transactions.filter((t) => t.statements.some((s) => s.includes('sluice_transitions') && s.startsWith('INSERT')));
    assert.ok(checkpoints.length >= ROWS / 100, `${checkpoints.length} checkpoint transactions seen`);
    assert.ok(transitions.length >= 2, `${transitions.length} transition transactions seen (running, succeeded)`);
    return { inBatch, checkpoints, transitions, isAsync: (t: Seen) => t.begin.includes('synchronous_commit = off') };
  } finally {
    await store.close();
    await pool.end();
    await cleanup();
  }
}

describe('asynchronous commit of batch transactions on PostgreSQL', () => {
  it('a transactional batch commits with synchronous_commit off; every run transition commits synchronously', async () => {
    const { inBatch, checkpoints, transitions, isAsync } = await scenario({ delivery: 'transactional' });
    assert.deepEqual([...new Set(inBatch)], ['off'], 'process sees its batch transaction with asynchronous commit');
    assert.ok(checkpoints.every(isAsync), 'every batch transaction began with SET LOCAL synchronous_commit = off');
    assert.ok(!transitions.some(isAsync), 'no transition (running, succeeded) commits asynchronously');
  });

  it('asyncBatchCommit: false keeps batch transactions synchronous', async () => {
    const { inBatch, checkpoints } = await scenario({ delivery: 'transactional', asyncBatchCommit: false });
    assert.deepEqual([...new Set(inBatch)], ['on']);
    assert.ok(checkpoints.length > 0 && !checkpoints.some((t) => t.begin.includes('synchronous_commit')));
  });

  it('an at-least-once checkpoint (its writes went elsewhere) commits synchronously', async () => {
    const { checkpoints, isAsync } = await scenario({ delivery: 'at-least-once' });
    assert.ok(!checkpoints.some(isAsync), 'the ledger and checkpoint of at-least-once batches are durable when reported');
  });
});
