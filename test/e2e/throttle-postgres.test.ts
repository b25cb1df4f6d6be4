import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { privateClusterUnavailable, startPgCluster } from '../helpers/pg-cluster.js';
import { scratchDatabase } from '../helpers/postgres.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const SLUICE_POSTGRES = pathToFileURL(new URL('../../src/postgres.ts', import.meta.url).pathname).href;

interface Status {
  run: { state: string; counts: { processed: number } };
  throttle: { state: string; reason: string | null };
  decisions: Array<{ kind: string; reason: string }>;
}

describe('PostgreSQL health signals on a real run', () => {
  it('a long transaction and a session waiting on a lock slow the run (batches halved); it recovers when they end', async () => {
    const db = await scratchDatabase('thr');
    const { dir, cleanup } = await tempDir();
    const admin = new pg.Client({ connectionString: db.url });
    const blocker = new pg.Client({ connectionString: db.url, application_name: 'test:blocker' });
    const waiter = new pg.Client({ connectionString: db.url, application_name: 'test:waiter' });
    await Promise.all([admin.connect(), blocker.connect(), waiter.connect()]);
    let run: ReturnType<typeof startCli> | undefined;
    try {
      await admin.query('CREATE TABLE items (id bigint PRIMARY KEY, done int NOT NULL DEFAULT 0)');
      await admin.query('INSERT INTO items SELECT i FROM generate_series(1, 60000) AS i');
      await admin.query('CREATE TABLE accounts (id int PRIMARY KEY)');
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, sqlKeyset } from '${SLUICE}';
import { postgresHealth } from '${SLUICE_POSTGRES}';
export default [defineBackfill<{ id: string }>({
  name: 'touch',
  source: sqlKeyset({ table: 'items', key: 'id' }),
  delivery: 'transactional',
  batchSize: 200,
  throttle: { signals: [postgresHealth({ connectionString: '${db.url}', longTransactionMs: 400, maxLockWaiters: 0 })], signalIntervalMs: 100 },
  async process(batch, ctx) {
    await ctx.tx!.executeMany('UPDATE items SET done = done + 1 WHERE id = ?', batch.map((r) => [r.id]));
    await ctx.tx!.query('SELECT pg_sleep(0.02)');
  },
})];
`,
      );
      const env = { SLUICE_PG_SCHEMA: 'sluice' };
      const args = (...rest: string[]) => [...rest, '--db', db.url];
      run = startCli(args('run', 'touch'), { cwd: dir, env });
      const done = collect(run);
      const runId = String((JSON.parse(await waitForLine(run, /"event":"started"/)) as { runId: string }).runId);
      const status = async () => JSON.parse((await runCli(args('status', runId, '--json'), { cwd: dir, env })).stdout) as Status;
      const slowedBy = (pattern: RegExp) =>
        waitFor(
          async () => {
            const s = await status();
            return s.throttle.state === 'slowed' && pattern.test(s.throttle.reason ?? '') ? s : undefined;
          },
          `the run to slow down for ${pattern}`,
          20_000,
          100,
        );
      const recovered = (count: number) =>
        waitFor(
          async () => {
            const s = await status();
            return s.decisions.filter((d) => d.kind === 'recovered').length >= count ? s : undefined;
          },
          'the run to recover',
          20_000,
          100,
        );

      // 1. A transaction left open (idle in transaction) past 400 ms.
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1');
      const slowed = await slowedBy(/^postgres: a transaction has been open \d+ s > 0.4 s \(pid \d+\)/);
      assert.ok(
        slowed.decisions.some((d) => d.kind === 'slowed' && /batches halved to 100/.test(d.reason)),
        JSON.stringify(slowed.decisions[0]),
      );
      await blocker.query('COMMIT');
      await recovered(1);

      // 2. A session waiting on a lock another one holds.
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
      const waiting = waiter.query('SELECT count(*) FROM accounts');
      await slowedBy(/1 session waiting on locks \(> 0\)/);
      await blocker.query('COMMIT');
      await waiting;
      await recovered(2);

      // Finish quickly: a live retune, applied within a batch.
      const retune = await runCli(args('retune', runId, '--batch-size', '5000'), { cwd: dir, env });
      assert.equal(retune.code, 0, retune.stderr);
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      const { rows } = await admin.query('SELECT MIN(done) AS min, MAX(done) AS max FROM items');
      assert.deepEqual(rows[0], { min: 1, max: 1 });
    } finally {
      if (run && run.exitCode === null) run.kill('SIGKILL');
      // The blocker first: a waiter cannot end while its query waits on the blocker's lock.
      await blocker.end().catch(() => undefined);
      await Promise.all([admin.end(), waiter.end()].map((p) => p.catch(() => undefined)));
      await db.drop();
      await cleanup();
    }
  });

  it('client connections at 80 % of max_connections pause the run; it resumes when they close (a private server)', {
    skip: privateClusterUnavailable(),
  }, async () => {
    const cluster = await startPgCluster({ maxConnections: 50 });
    const { dir, cleanup } = await tempDir();
    const held: pg.Client[] = [];
    let run: ReturnType<typeof startCli> | undefined;
    try {
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      held.push(admin);
      await admin.query('CREATE TABLE items (id bigint PRIMARY KEY, done int NOT NULL DEFAULT 0)');
      await admin.query('INSERT INTO items SELECT i FROM generate_series(1, 60000) AS i');
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, sqlKeyset } from '${SLUICE}';
import { postgresHealth } from '${SLUICE_POSTGRES}';
export default [defineBackfill<{ id: string }>({
  name: 'touch',
  source: sqlKeyset({ table: 'items', key: 'id' }),
  delivery: 'transactional',
  batchSize: 100,
  throttle: { signals: [postgresHealth({ connectionString: '${cluster.url}' })], signalIntervalMs: 100 },
  async process(batch, ctx) {
    await ctx.tx!.executeMany('UPDATE items SET done = done + 1 WHERE id = ?', batch.map((r) => [r.id]));
    await ctx.tx!.query('SELECT pg_sleep(0.01)');
  },
})];
`,
      );
      const args = (...rest: string[]) => [...rest, '--db', cluster.url];
      run = startCli(args('run', 'touch'), { cwd: dir });
      const done = collect(run);
      const runId = String((JSON.parse(await waitForLine(run, /"event":"started"/)) as { runId: string }).runId);
      const status = async () => {
        const r = await runCli(args('status', runId, '--json'), { cwd: dir });
        if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
        return JSON.parse(r.stdout) as Status;
      };
      // Hold connections until 40 of 50 are taken (the run's own, the signal's and the status reads count
      // too), leaving room for the status command itself.
      const inUse = async () =>
        Number((await admin.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")).rows[0].count);
      while ((await inUse()) < 40) {
        const c = new pg.Client({ connectionString: cluster.url });
        await c.connect();
        held.push(c);
      }
      let last: unknown;
      const paused = await waitFor(
        async () => {
          const s = await status().catch((error: Error) => void (last = error.message));
          if (s) last = { state: s.run.state, throttle: s.throttle, decisions: s.decisions.slice(0, 2), inUse: await inUse() };
          return s?.throttle.state === 'paused' ? s : undefined;
        },
        'the run to pause on connections',
        30_000,
        100,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last status: ${JSON.stringify(last)}`);
      });
      assert.match(paused.throttle.reason ?? '', /^postgres: db connections (8\d|9\d|100) % ≥ 80 % \(\d+ of 50\)$/);
      const before = paused.run.counts.processed;
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await status()).run.counts.processed, before, 'no batch while paused');
      while (held.length > 1) await held.pop()!.end();
      await waitFor(async () => (await status()).decisions.some((d) => d.kind === 'resumed'), 'the run to resume', 30_000, 100);
      const retune = await runCli(args('retune', runId, '--batch-size', '5000'), { cwd: dir });
      assert.equal(retune.code, 0, retune.stderr);
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      const s = await status();
      assert.equal(s.run.state, 'succeeded');
      assert.ok(
        s.decisions.some((d) => d.kind === 'resumed' && /db connections \d+ % \(\d+ of 50\)/.test(d.reason)),
        JSON.stringify(s.decisions.slice(0, 3)),
      );
      const { rows } = await admin.query('SELECT MIN(done) AS min, MAX(done) AS max FROM items');
      assert.deepEqual(rows[0], { min: 1, max: 1 });
    } finally {
      if (run && run.exitCode === null) run.kill('SIGKILL');
      await Promise.all(held.map((c) => c.end().catch(() => undefined)));
      await cluster.stop();
      await cleanup();
    }
  });
});
