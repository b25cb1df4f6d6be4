import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { pgItemsBackfill } from '../helpers/pg-backfill.js';
import { TEST_PG } from '../helpers/postgres.js';

const ROWS = 20_000;
const setup = (prefix: string) => pgItemsBackfill(prefix, ROWS);

describe('workers on PostgreSQL (real processes)', () => {
  it('two workers share one run: every row exactly once, both did work', async () => {
    const t = await setup('share');
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '6'), { cwd: t.dir, env: t.env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);
      const workers = [0, 1].map(() => collect(startCli(t.args('worker', '--exit-when-idle', '--poll', '100ms', '--concurrency', '3'), { cwd: t.dir, env: { ...t.env, BATCH_DELAY_MS: '5' } })));
      const results = await Promise.all(workers);
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
      const status = JSON.parse((await runCli(t.args('status', runId, '--json'), { cwd: t.dir, env: t.env })).stdout) as { run: { state: string; counts: { processed: number } } };
      assert.equal(status.run.state, 'succeeded');
      assert.equal(status.run.counts.processed, ROWS);
      // Both processes joined the run and processed part of it.
      for (const r of results) assert.ok(jsonLines(r.stdout).some((e) => e.event === 'outcome' && e.runId === runId), r.stdout.slice(0, 500));
    } finally {
      await t.cleanup();
    }
  });

  it('a worker killed with SIGKILL mid-run: another takes its partitions over and nothing is written twice', async () => {
    const t = await setup('kill');
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '3'), { cwd: t.dir, env: t.env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const victim = startCli(t.args('worker', '--poll', '100ms'), { cwd: t.dir, env: { ...t.env, BATCH_DELAY_MS: '20' } });
      const victimDone = collect(victim);
      await waitForLine(victim, /"event":"progress"/);
      victim.kill('SIGKILL');
      assert.equal((await victimDone).signal, 'SIGKILL');
      const survivor = await runCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env });
      assert.equal(survivor.code, 0, survivor.stderr);
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await t.cleanup();
    }
  });

  it('a worker frozen past its lease (SIGSTOP) cannot commit when it wakes: its batch is fenced off and rolled back', async () => {
    const t = await setup('fence');
    const admin = new pg.Client({ connectionString: TEST_PG });
    await admin.connect();
    let frozen: ReturnType<typeof startCli> | undefined;
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '1'), { cwd: t.dir, env: t.env });
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);
      frozen = startCli(t.args('worker', '--lease', '1s', '--poll', '100ms'), { cwd: t.dir, env: { ...t.env, BATCH_DELAY_MS: '300' } });
      const frozenDone = collect(frozen);
      await waitForLine(frozen, /"event":"progress"/);
      const before = (await admin.query(`SELECT fence FROM "${t.schema}".sluice_partitions WHERE run_id = $1`, [runId])).rows[0].fence;
      frozen.kill('SIGSTOP');
      const survivor = collect(startCli(t.args('worker', '--lease', '1s', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env }));
      // The survivor takes the partition over once the frozen worker's lease has expired.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const fence = (await admin.query(`SELECT fence FROM "${t.schema}".sluice_partitions WHERE run_id = $1`, [runId])).rows[0].fence;
        if (Number(fence) > Number(before)) break;
        if (Date.now() >= deadline) {
          frozen.kill('SIGKILL');
          const s = await survivor;
          assert.fail(`the survivor never claimed the partition: ${s.code} ${s.stderr.slice(0, 3000)} ${s.stdout.slice(0, 2000)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      frozen.kill('SIGCONT');
      const survived = await survivor;
      assert.equal(survived.code, 0, survived.stderr);
      frozen.kill('SIGTERM');
      const woke = await frozenDone;
      assert.match(woke.stderr, /lease on partition 0 of run .* was lost/);
      // Whatever the woken worker picked up afterwards and handed back on SIGTERM, a last worker finishes.
      const finisher = await runCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env });
      assert.equal(finisher.code, 0, finisher.stderr);
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      // A failed assertion must not leave a stopped process behind (the runner would wait on it).
      if (frozen && frozen.exitCode === null && frozen.signalCode === null) {
        frozen.kill('SIGCONT');
        frozen.kill('SIGKILL');
      }
      await admin.end();
      await t.cleanup();
    }
  });

  it('connections killed with pg_terminate_backend mid-run: the worker reconnects and finishes, nothing written twice', async () => {
    const t = await setup('term');
    const admin = new pg.Client({ connectionString: TEST_PG });
    await admin.connect();
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '2'), { cwd: t.dir, env: t.env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const worker = startCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: { ...t.env, BATCH_DELAY_MS: '15' } });
      const done = collect(worker);
      await waitForLine(worker, /"event":"progress"/);
      let terminated = 0;
      for (let i = 0; i < 3; i++) {
        const { rows } = await admin.query(`SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`, [`sluice:${t.schema}`]);
        terminated += rows[0].n;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const result = await done;
      assert.ok(terminated > 0, 'some connections were terminated');
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await admin.end();
      await t.cleanup();
    }
  });
});
