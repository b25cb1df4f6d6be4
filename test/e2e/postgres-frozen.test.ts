import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { collect, jsonLines, runCli, startCli, waitForLine, type CliResult } from '../helpers/cli.js';
import { privateClusterUnavailable, startPgCluster } from '../helpers/pg-cluster.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const ROWS = 8_000;
const unavailable = privateClusterUnavailable();

/** One query on a connection of its own (never while the server is frozen). */
async function queryOne<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as T;
  } finally {
    await client.end();
  }
}

async function get(url: string, token?: string) {
  const started = Date.now();
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(30_000) });
  return { status: response.status, body: await response.text(), ms: Date.now() - started };
}

/** Resolves with the child's exit within `ms`, or fails naming it. */
async function exitWithin(child: ChildProcess, result: Promise<CliResult>, ms: number, what: string): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, ms, 'timeout').unref());
  const ended = await Promise.race([result, timeout]);
  if (ended === 'timeout') {
    child.kill('SIGKILL');
    assert.fail(`${what} still running ${ms} ms later`);
  }
  return { ...ended, ms: Date.now() - started };
}

describe('serve and a worker while their PostgreSQL server is frozen (SIGSTOP) mid-run (a private server)', { skip: unavailable }, () => {
  it('/readyz and the API answer 503 within 5 s, SIGTERM ends serve within 10 s, the worker says why it waits; after SIGCONT all resume and every row is written exactly once', async () => {
    // On SIGCONT the server accepts every connection attempt queued while it was stopped (each
    // /readyz probe and pool retry left one); room for those, so that the test's own queries after
    // the thaw do not meet "too many clients already" (Sluice's pools retry it as transient).
    const cluster = await startPgCluster({ maxConnections: 200 });
    const { dir, cleanup } = await tempDir();
    const children: ChildProcess[] = [];
    try {
      await queryOne(
        cluster.url,
        'CREATE TABLE items (id bigint PRIMARY KEY, value int NOT NULL, result int, writes int NOT NULL DEFAULT 0)',
      );
      await queryOne(cluster.url, `INSERT INTO items (id, value) SELECT i, i FROM generate_series(1, ${ROWS}) AS i`);
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: string; value: number }>({
    name: 'pgjob',
    source: sqlKeyset({ table: 'public.items', key: 'id', where: 'result IS NULL', columns: ['id', 'value'] }),
    delivery: 'transactional',
    batchSize: 200,
    async process(batch, ctx) {
      await ctx.tx!.executeMany('UPDATE public.items SET result = ?, writes = writes + 1 WHERE id = ?', batch.map((r) => [r.value * 2, r.id]));
      await new Promise((resolve) => setTimeout(resolve, 300));
    },
  }),
];
`,
      );
      // Short waits (the documented knobs) keep the test fast; the defaults are 10 s, 15 s and 60 s.
      const env = {
        SLUICE_PG_SCHEMA: 'sluice',
        SLUICE_PG_CONNECT_TIMEOUT: '3s',
        SLUICE_PG_QUERY_TIMEOUT: '2s',
        SLUICE_PG_STATEMENT_TIMEOUT: '3s',
      };
      const args = (...rest: string[]) => [...rest, '--db', cluster.url];
      const rows = () =>
        queryOne<{ scored: number; min: number | null; max: number | null }>(
          cluster.url,
          'SELECT COUNT(result)::int AS scored, MIN(writes) AS min, MAX(writes) AS max FROM items',
        );

      const token = await runCli(args('token', 'create', '--scope', 'read', '--json'), { cwd: dir, env });
      assert.equal(token.code, 0, token.stderr);
      const secret = String(jsonLines(token.stdout)[0]!.token);
      const enqueued = await runCli(args('run', 'pgjob', '--detach', '--concurrency', '4'), { cwd: dir, env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);

      // A server that only serves, one that also works the run (it is stopped during the outage), and a worker.
      const observer = startCli(args('serve', '--port', '0', '--no-worker', '--json'), { cwd: dir, env });
      const stopped = startCli(args('serve', '--port', '0', '--json'), { cwd: dir, env });
      const worker = startCli(args('worker', '--exit-when-idle', '--lease', '3s', '--poll', '200ms', '--concurrency', '2'), {
        cwd: dir,
        env,
      });
      children.push(observer, stopped, worker);
      const results = children.map((child) => collect(child));
      const [observerResult, stoppedResult, workerResult] = results as [Promise<CliResult>, Promise<CliResult>, Promise<CliResult>];
      // Both listeners at once: a line printed before its listener is attached would be missed.
      const [listening] = await Promise.all([
        waitForLine(observer, /"event":"listening"/, 60_000),
        waitForLine(stopped, /"event":"listening"/, 60_000),
      ]);
      const { url } = JSON.parse(listening) as { url: string };

      await waitFor(async () => (await rows()).scored >= ROWS * 0.1, 'the workers to commit 10 % of the rows', 60_000, 50);
      cluster.freeze();
      const frozenAt = Date.now();
      try {
        assert.ok(
          (await Promise.race([workerResult.then(() => 'ended'), new Promise((resolve) => setImmediate(resolve, 'running'))])) ===
            'running',
          'the worker is still at work when the server freezes',
        );

        const [ready, api] = await Promise.all([get(`${url}/readyz`), get(`${url}/api/v1/runs`, secret)]);
        assert.equal(ready.status, 503, ready.body);
        assert.ok(ready.ms < 5_000, `/readyz answered in ${ready.ms} ms`);
        assert.equal(api.status, 503, api.body);
        assert.match(api.body, /store_unavailable/);
        assert.ok(api.ms < 5_000, `the API answered in ${api.ms} ms`);

        stopped.kill('SIGTERM');
        const ended = await exitWithin(stopped, stoppedResult, 10_000, 'serve after SIGTERM during the outage');
        assert.ok(ended.code !== null, `serve exited by itself (code ${ended.code}, signal ${ended.signal})`);

        // The worker says what is wrong: its statements time out on the store.
        await waitForLine(worker, /did not answer|connect timeout|came free/, 20_000, 'stderr');
      } finally {
        cluster.thaw();
      }
      const outageMs = Date.now() - frozenAt;

      await waitFor(async () => (await get(`${url}/readyz`)).status === 200, '/readyz to answer 200 after SIGCONT', 20_000, 100);
      assert.equal((await get(`${url}/api/v1/runs`, secret)).status, 200);
      const done = await exitWithin(worker, workerResult, 120_000, 'the worker after SIGCONT');
      assert.equal(done.code, 0, done.stderr.slice(-3000));
      const final = await rows();
      assert.deepEqual(final, { scored: ROWS, min: 1, max: 1 }, `every row written exactly once (outage ${outageMs} ms)`);
      const run = await queryOne<{ state: string }>(cluster.url, `SELECT state FROM sluice.sluice_runs WHERE id = '${runId}'`);
      assert.equal(run.state, 'succeeded');

      observer.kill('SIGTERM');
      const observerEnded = await exitWithin(observer, observerResult, 10_000, 'serve after SIGTERM');
      assert.equal(observerEnded.code, 0, observerEnded.stderr);
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await cluster.stop();
      await cleanup();
    }
  });
});
