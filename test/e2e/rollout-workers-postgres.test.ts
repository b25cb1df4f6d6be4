import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { pgItemsBackfill } from '../helpers/pg-backfill.js';
import { waitFor } from '../helpers/temp.js';

const ROWS = 20_000;

/**
 * A canary and a gradual rollout are budgets of the whole run: the foreground `sluice run` and two
 * `sluice worker` processes share them through the PostgreSQL store.
 */
describe('canary and gradual rollout across worker processes (PostgreSQL)', () => {
  it('a canary of N items with the foreground and two workers: exactly N processed, then paused; a resume does the rest', async () => {
    const t = await pgItemsBackfill('canary', ROWS);
    // Not a multiple of the batch size (200): the last batch is a short one.
    const canary = 9_130;
    const env = { ...t.env, BATCH_DELAY_MS: '150' };
    const workers = await startWorkers(t, env);
    try {
      const foreground = await runCli(t.args('run', 'pgjob', '--canary', String(canary), '--new', '--concurrency', '2'), {
        cwd: t.dir,
        env,
      });
      assert.equal(foreground.code, 0, `a canary that ran its course exits 0: ${foreground.stderr.slice(0, 2000)}`);
      const runId = String(jsonLines(foreground.stdout).find((e) => e.event === 'summary')!.runId);
      const {
        rows: [state],
      } = await t.admin.query(
        `SELECT r.state, r.reason, SUM(p.processed)::int AS processed, SUM(p.received)::int AS received, SUM(p.canary_claim)::int AS claims
        FROM "${t.schema}".sluice_runs r JOIN "${t.schema}".sluice_partitions p ON p.run_id = r.id WHERE r.id = $1 GROUP BY r.id`,
        [runId],
      );
      assert.deepEqual([state.state, state.processed, state.received, state.claims], ['paused', canary, canary, 0], JSON.stringify(state));
      assert.match(state.reason, new RegExp(`^canary: stopped after ${canary} items`));
      // The target saw exactly the canary, each row once.
      assert.deepEqual(await t.rows(), { scored: canary, min: 0, max: 1 });
      // Every process took part: the budget held across all of them, not only in the foreground.
      const { rows: byWorker } = await t.admin.query(
        `SELECT worker, SUM(received)::int AS items FROM "${t.schema}".sluice_batches WHERE run_id = $1 GROUP BY worker`,
        [runId],
      );
      assert.equal(byWorker.length, 3, `batches by worker: ${JSON.stringify(byWorker)}`);
      for (const w of await workers.stop()) assert.equal(w.code, 0, w.stderr.slice(0, 2000));
      const status = JSON.parse((await runCli(t.args('status', runId, '--json'), { cwd: t.dir, env: t.env })).stdout) as {
        run: { canary: unknown };
      };
      assert.deepEqual(status.run.canary, { items: canary, left: 0 }, 'status shows the budget, spent');

      // Resuming lifts the budget: the rest, once.
      const rest = await runCli(t.args('resume', runId), { cwd: t.dir, env: t.env });
      assert.equal(rest.code, 0, rest.stderr.slice(0, 2000));
      assert.equal(jsonLines(rest.stdout).find((e) => e.event === 'summary')?.state, 'succeeded', rest.stdout.slice(-1000));
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await workers.stop();
      await t.cleanup();
    }
  });

  // Under CI load this once saw 4 live leases at a ramp of 3: a claim counted only live leases and
  // skipped (SKIP LOCKED) the expired lease of a worker committing a late checkpoint, which then
  // revived it. Every leased partition now holds a lane until a claim takes it over (store tests).
  it("a gradual rollout with the foreground and two workers: the run's live leases never exceed the ramp, which every process follows", async () => {
    const t = await pgItemsBackfill('gradual', ROWS);
    const env = { ...t.env, BATCH_DELAY_MS: '30' };
    const workers = await startWorkers(t, env, ['--concurrency', '4']);
    try {
      const foreground = startCli(t.args('run', 'pgjob', '--gradual', '--concurrency', '4', '--new'), { cwd: t.dir, env });
      const foregroundDone = collect(foreground);
      const runId = String(JSON.parse(await waitForLine(foreground, /"event":"started"/, 120_000)).runId);
      // Sample the run's live leases over every process until the run has ended. clock_timestamp()
      // is read after the statement's snapshot: a ramp step recorded later was not visible to it.
      const samples: Array<{ at: Date; leases: number; state: string }> = [];
      for (;;) {
        const {
          rows: [sample],
        } = await t.admin.query(
          `SELECT r.state, clock_timestamp() AS at,
            (SELECT COUNT(*)::int FROM "${t.schema}".sluice_partitions p WHERE p.run_id = r.id AND p.state = 'running' AND p.lease_expires_at >= now()) AS leases
          FROM "${t.schema}".sluice_runs r WHERE r.id = $1`,
          [runId],
        );
        samples.push(sample);
        if (sample.state !== 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(samples.at(-1)!.state, 'succeeded');
      const run = await foregroundDone;
      assert.equal(run.code, 0, run.stderr.slice(0, 2000));
      for (const w of await workers.stop()) assert.equal(w.code, 0, w.stderr.slice(0, 2000));
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });

      // The ramp over time, as its recorded steps say: one lane until the first raise.
      const { rows: steps } = await t.admin.query(
        `SELECT at, reason FROM "${t.schema}".sluice_decisions WHERE run_id = $1 AND kind = 'gradual' ORDER BY at`,
        [runId],
      );
      const moves = steps
        .map((s: { at: Date; reason: string }) => ({
          at: s.at,
          lanes: Number(/^(?:raised|stepped back) to (\d+) lane/.exec(s.reason)?.[1] ?? NaN),
          reason: s.reason,
        }))
        .filter((m) => !Number.isNaN(m.lanes));
      assert.ok(
        moves.every((m) => m.reason.startsWith('raised')),
        `a healthy run only rises: ${moves.map((m) => m.reason).join('\n')}`,
      );
      const rampAt = (at: Date) => moves.filter((m) => m.at <= at).reduce((_lanes, m) => m.lanes, 1);
      const over = samples.filter((s) => s.leases > rampAt(s.at));
      assert.deepEqual(
        over.map((s) => `${s.at.toISOString()}: ${s.leases} leases, ramp ${rampAt(s.at)}`),
        [],
        `samples: ${samples.length}`,
      );
      // The test saw the ramp work: it rose to the full 4 lanes one step at a time, and the run used them.
      assert.deepEqual(
        moves.map((m) => m.lanes),
        [2, 3, 4],
      );
      // The workers polled for work all along (startWorkers waited for them): which process takes a
      // lane the ramp releases is not fixed (the one that stepped it usually takes it at once), but
      // however many asked, the run's live leases stayed within the ramp.
      assert.ok(Math.max(...samples.map((s) => s.leases)) >= 3, `most leases seen: ${Math.max(...samples.map((s) => s.leases))}`);
    } finally {
      await workers.stop();
      await t.cleanup();
    }
  });
});

/**
 * Two `sluice worker` processes, returned once both look for work in the store (their queries
 * show in pg_stat_activity under the store's application name). `stop` ends them with SIGTERM
 * (they hand their partitions back) and gives their results.
 */
async function startWorkers(
  t: Awaited<ReturnType<typeof pgItemsBackfill>>,
  env: Record<string, string>,
  extra: string[] = ['--concurrency', '2'],
) {
  const children = [0, 1].map(() => startCli(t.args('worker', '--poll', '100ms', ...extra), { cwd: t.dir, env }));
  const results = children.map((child) => collect(child));
  const stop = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return Promise.all(results);
  };
  try {
    await waitFor(
      async () =>
        (
          await t.admin.query(
            `SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%sluice_runs%'`,
            [`sluice:${t.schema}`],
          )
        ).rows[0].n >= 2,
      'both workers polling the store',
      120_000,
      50,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}
