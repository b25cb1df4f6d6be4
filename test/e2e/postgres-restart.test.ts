import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { collect, jsonLines, runCli, startCli, type CliResult } from '../helpers/cli.js';
import { privateClusterUnavailable, startPgCluster } from '../helpers/pg-cluster.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const ROWS = 20_000;
const BATCH_SIZE = 200;
const WORKERS = 3;
const unavailable = privateClusterUnavailable();

/** One query on a connection of its own: the server restarts under the test, so no client is kept. */
async function queryOne<T>(url: string, sql: string, params: unknown[] = []): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows[0] as T;
  } finally {
    await client.end();
  }
}

describe('workers on a PostgreSQL server that restarts mid-run (a private server)', { skip: unavailable }, () => {
  it('3 workers, a fast-shutdown restart: they resume by themselves, exit 0, the run succeeds, every row written exactly once', async () => {
    const cluster = await startPgCluster();
    const { dir, cleanup } = await tempDir();
    const workers: ChildProcess[] = [];
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
    batchSize: ${BATCH_SIZE},
    async process(batch, ctx) {
      await ctx.tx!.executeMany('UPDATE public.items SET result = ?, writes = writes + 1 WHERE id = ?', batch.map((r) => [r.value * 2, r.id]));
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.BATCH_DELAY_MS ?? 0)));
    },
  }),
];
`,
      );
      const env = { SLUICE_PG_SCHEMA: 'sluice' };
      const args = (...rest: string[]) => [...rest, '--db', cluster.url];
      const rows = () =>
        queryOne<{ scored: number; min: number | null; max: number | null }>(
          cluster.url,
          'SELECT COUNT(result)::int AS scored, MIN(writes) AS min, MAX(writes) AS max FROM items',
        );

      const enqueued = await runCli(args('run', 'pgjob', '--detach', '--concurrency', '6'), { cwd: dir, env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);

      // Slow batches (about 3 s of work in all) so that the restart lands in the middle of the run.
      for (let i = 0; i < WORKERS; i++) {
        workers.push(
          startCli(args('worker', '--exit-when-idle', '--lease', '3s', '--poll', '200ms', '--concurrency', '2'), {
            cwd: dir,
            env: { ...env, BATCH_DELAY_MS: '150' },
          }),
        );
      }
      const results: Array<Promise<CliResult>> = workers.map((w) => collect(w));

      await waitFor(async () => (await rows()).scored >= ROWS * 0.15, 'the workers to commit 15 % of the rows', 60_000, 50);
      assert.ok(
        workers.every((w) => w.exitCode === null && w.signalCode === null),
        'every worker is still running when the server goes down',
      );
      const started = Date.now();
      // Fast shutdown: every session is cut and the batch transactions in flight roll back.
      await cluster.restart();
      const restartMs = Date.now() - started;
      const atRestart = await rows();
      assert.ok(atRestart.scored < ROWS, `the run was not over when the server came back (${atRestart.scored} rows scored)`);

      // No operator action: the workers must find their way back and finish on their own.
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(resolve, 120_000, 'timeout').unref());
      const finished = await Promise.race([Promise.all(results), deadline]);
      if (finished === 'timeout') {
        const alive = workers.filter((w) => w.exitCode === null && w.signalCode === null).map((w) => w.pid);
        assert.fail(
          `workers ${alive.join(', ')} still running 120 s after the restart (took ${restartMs} ms); rows: ${JSON.stringify(await rows())}`,
        );
      }
      finished.forEach((r, i) => assert.equal(r.code, 0, `worker ${i} exited ${r.code} (${r.signal}):\n${r.stderr.slice(-4000)}`));
      // At least one worker saw the server go away (the restart really cut sessions in use).
      assert.ok(
        finished.some((r) => /57P01|ECONNREFUSED|terminating connection|connection error/.test(r.stderr)),
        `no worker reported a lost connection:\n${finished.map((r) => r.stderr.slice(-1500)).join('\n---\n')}`,
      );

      assert.deepEqual(await rows(), { scored: ROWS, min: 1, max: 1 });
      const status = await runCli(args('status', runId, '--json'), { cwd: dir, env });
      assert.equal(status.code, 0, status.stderr);
      const { run, partitions } = JSON.parse(status.stdout) as {
        run: { state: string; counts: { processed: number; quarantined: number } };
        partitions: Array<{ state: string }>;
      };
      assert.equal(run.state, 'succeeded');
      assert.equal(run.counts.processed, ROWS);
      assert.equal(run.counts.quarantined, 0);
      assert.ok(
        partitions.every((p) => p.state === 'done'),
        JSON.stringify(partitions.map((p) => p.state)),
      );
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await cluster.stop();
      await cleanup();
    }
  });
});
