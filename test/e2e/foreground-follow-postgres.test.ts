import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { collect, type CliResult, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { itemsTable } from '../helpers/items-table.js';
import { waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const ROWS = 6_000;
/** How long to wait for a process to get somewhere: generous, since CI machines may be loaded. */
const PATIENCE_MS = 90_000;

/**
 * A PostgreSQL table, a store in the same schema, and a transactional backfill over it whose
 * batches wait while the file named by HOLD_FILE exists: the test decides when each process may
 * go on, so "the workers hold partitions while the foreground has nothing left" is a fact, not a
 * race. A key function that throws on row 4000 while BROKEN_KEY is set fails its partition.
 */
async function setup(prefix: string) {
  const table = await itemsTable(prefix, ROWS);
  const { schema, dir, admin, env, args } = table;
  writeFileSync(
    table.configPath,
    `import { existsSync } from 'node:fs';
import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: string; value: number }>({
    name: 'pgjob',
    source: sqlKeyset({ table: '${schema}.items', key: 'id', where: 'result IS NULL', columns: ['id', 'value'] }),
    delivery: 'transactional',
    batchSize: 100,
    dedup: true,
    key: (row) => {
      if (process.env.BROKEN_KEY && Number(row.id) === 4000) throw new Error('key function crashed');
      return row.id;
    },
    async process(batch, ctx) {
      const hold = process.env.HOLD_FILE;
      while (hold && existsSync(hold)) await new Promise((resolve) => setTimeout(resolve, 20));
      await ctx.tx!.executeMany('UPDATE "${schema}".items SET result = ?, writes = writes + 1 WHERE id = ?', batch.map((r) => [r.value * 2, r.id]));
    },
  }),
];
`,
  );
  const partitions = async (runId: string) =>
    (
      await admin.query<{ idx: number; state: string; lease_owner: string | null }>(
        `SELECT idx, state, lease_owner FROM "${schema}".sluice_partitions WHERE run_id = $1 ORDER BY idx`,
        [runId],
      )
    ).rows;
  const runState = async (runId: string) =>
    String((await admin.query(`SELECT state FROM "${schema}".sluice_runs WHERE id = $1`, [runId])).rows[0]?.state);
  const hold = (name: string) => {
    const path = join(dir, name);
    writeFileSync(path, '');
    return { path, release: () => rmSync(path, { force: true }) };
  };
  const children: ChildProcess[] = [];
  const start = (cliArgs: string[], extra: Record<string, string> = {}) => {
    const child = startCli(args(...cliArgs), { cwd: dir, env: { ...env, ...extra } });
    children.push(child);
    return child;
  };
  const t = {
    dir,
    env,
    args,
    rows: table.rows,
    partitions,
    runState,
    hold,
    start,
    /** Enqueues a run planned with `n` partitions and returns its id. */
    enqueue: async (n: number) => {
      const enqueued = await runCli(args('run', 'pgjob', '--detach', '--concurrency', String(n)), { cwd: dir, env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      return String(jsonLines(enqueued.stdout)[0]!.runId);
    },
    cleanup: async () => {
      // A failed assertion must not leave processes behind (the runner would wait on them).
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await table.cleanup();
    },
  };
  return t;
}

type Setup = Awaited<ReturnType<typeof setup>>;

/**
 * A run of three partitions: a foreground `sluice run` with one lane holds partition 0, then two
 * workers hold partitions 1 and 2; every batch waits on its hold file until the test releases it.
 */
async function foregroundBesideTwoWorkers(t: Setup, ...foregroundFlags: string[]) {
  const runId = await t.enqueue(3);
  const foregroundHold = t.hold('hold-foreground');
  const workersHold = t.hold('hold-workers');
  const foreground = t.start(['run', 'pgjob', '--concurrency', '1', ...foregroundFlags], { HOLD_FILE: foregroundHold.path });
  const foregroundDone = collect(foreground);
  await waitFor(
    async () => stillRunning(foreground) && (await t.partitions(runId)).filter((p) => p.state === 'running').length === 1,
    'the foreground to claim a partition',
    PATIENCE_MS,
  );
  const workers = [0, 1].map(() =>
    collect(t.start(['worker', '--exit-when-idle', '--poll', '100ms', '--concurrency', '1'], { HOLD_FILE: workersHold.path })),
  );
  await waitFor(
    async () => new Set((await t.partitions(runId)).map((p) => p.lease_owner).filter(Boolean)).size === 3,
    'the foreground and both workers to hold a partition each',
    PATIENCE_MS,
  );
  return { runId, foreground, foregroundDone, foregroundHold, workersHold, workers };
}

/** True while the child runs; throws (ending a wait at once) when it has exited. */
function stillRunning(child: ChildProcess): boolean {
  if (child.exitCode !== null || child.signalCode !== null)
    throw new Error(`the process exited early (code ${child.exitCode}, signal ${child.signalCode})`);
  return true;
}

function summaryOf(result: CliResult): Record<string, unknown> {
  const summary = jsonLines(result.stdout).find((e) => e.event === 'summary');
  assert.ok(summary, `no summary line in ${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`);
  return summary;
}

describe('a foreground run beside workers (PostgreSQL, real processes)', () => {
  it('`sluice run` follows the run while two workers hold its partitions, and exits only when it ends, with its code', async () => {
    const t = await setup('follow');
    try {
      const s = await foregroundBesideTwoWorkers(t);
      // The foreground finishes its partition (and what it can split off the workers'), then follows.
      s.foregroundHold.release();
      await waitForLine(s.foreground, /"event":"following"/, PATIENCE_MS);
      await waitForLine(s.foreground, /"event":"progress".*"scope":"run"/, PATIENCE_MS);
      assert.equal(s.foreground.exitCode, null, 'the foreground is still running while the workers hold partitions');
      assert.equal(await t.runState(s.runId), 'running');
      s.workersHold.release();
      const result = await s.foregroundDone;
      assert.equal(result.code, 0, result.stderr.slice(-3000));
      const summary = summaryOf(result);
      assert.equal(summary.state, 'succeeded');
      // The summary counts the whole run, the workers' share included.
      assert.equal((summary.counts as { processed: number }).processed, ROWS);
      for (const w of await Promise.all(s.workers)) assert.equal(w.code, 0, w.stderr.slice(-3000));
      assert.equal(await t.runState(s.runId), 'succeeded');
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await t.cleanup();
    }
  });

  it('a run paused by someone else while the foreground follows it: the foreground exits 3', async () => {
    const t = await setup('followpause');
    try {
      const s = await foregroundBesideTwoWorkers(t);
      s.foregroundHold.release();
      await waitForLine(s.foreground, /"event":"following"/, PATIENCE_MS);
      const paused = await runCli(t.args('pause', s.runId, '--reason', 'db maintenance'), { cwd: t.dir, env: t.env });
      assert.equal(paused.code, 0, paused.stderr);
      s.workersHold.release();
      const result = await s.foregroundDone;
      assert.equal(result.code, 3, result.stderr.slice(-3000));
      const summary = summaryOf(result);
      assert.equal(summary.state, 'paused');
      assert.match(String(summary.reason), /db maintenance/);
      const state = jsonLines(result.stdout).find((e) => e.event === 'state');
      assert.deepEqual([state?.from, state?.to], ['running', 'paused']);
      assert.equal(await t.runState(s.runId), 'paused');
    } finally {
      await t.cleanup();
    }
  });

  it('--no-follow returns with exit 5 while the workers hold partitions; the run goes on', async () => {
    const t = await setup('nofollow');
    try {
      const { runId, foregroundHold, foregroundDone, workersHold, workers } = await foregroundBesideTwoWorkers(t, '--no-follow');
      foregroundHold.release();
      const result = await foregroundDone;
      assert.equal(result.code, 5, result.stderr.slice(-3000));
      const summary = summaryOf(result);
      assert.equal(summary.state, 'running');
      assert.equal((summary.otherWorkers as string[]).length, 2);
      assert.equal(await t.runState(runId), 'running');
      workersHold.release();
      for (const w of await Promise.all(workers)) assert.equal(w.code, 0, w.stderr.slice(-3000));
      assert.equal(await t.runState(runId), 'succeeded');
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await t.cleanup();
    }
  });

  it('Ctrl-C on the foreground while two workers hold partitions: it hands its partition back (exit 5), the run goes on and the workers finish it', async () => {
    const t = await setup('withdraw');
    try {
      const s = await foregroundBesideTwoWorkers(t);
      s.foreground.kill('SIGINT');
      const said = await waitForLine(s.foreground, /SIGINT: /, PATIENCE_MS, 'stderr');
      assert.match(
        said,
        new RegExp(
          `handing this process's partitions back: 2 other workers go on with run ${s.runId}; \`sluice pause ${s.runId}\` pauses the whole run`,
        ),
      );
      s.foregroundHold.release();
      const result = await s.foregroundDone;
      assert.equal(result.code, 5, result.stderr.slice(-3000));
      const summary = summaryOf(result);
      assert.equal(summary.state, 'running');
      assert.equal((summary.otherWorkers as string[]).length, 2);
      // The run goes on; the foreground's partition is free for the workers.
      assert.equal(await t.runState(s.runId), 'running');
      const p0 = (await t.partitions(s.runId)).find((p) => p.idx === 0)!;
      assert.deepEqual([p0.state, p0.lease_owner], ['pending', null]);
      s.workersHold.release();
      for (const w of await Promise.all(s.workers)) assert.equal(w.code, 0, w.stderr.slice(-3000));
      assert.equal(await t.runState(s.runId), 'succeeded');
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await t.cleanup();
    }
  });
});

describe('handing a run back to the workers from the CLI (PostgreSQL, real processes)', () => {
  it('resume --detach makes a paused run pending (actor and reason recorded) and a worker finishes it; other states are refused', async () => {
    const t = await setup('requeue');
    try {
      const runId = await t.enqueue(2);
      const paused = await runCli(t.args('pause', runId), { cwd: t.dir, env: t.env });
      assert.equal(paused.code, 0, paused.stderr);
      assert.equal(await t.runState(runId), 'paused');

      const withFlags = await runCli(t.args('resume', runId, '--detach', '--batch-size', '5'), { cwd: t.dir, env: t.env });
      assert.equal(withFlags.code, 2);
      assert.match(
        withFlags.stderr,
        /resume --detach hands the run back to the workers as it is: --batch-size applies only to a run executing here/,
      );

      const handed = await runCli(t.args('resume', runId, '--detach', '--reason', 'maintenance over', '--actor', 'oncall'), {
        cwd: t.dir,
        env: t.env,
      });
      assert.equal(handed.code, 0, handed.stderr);
      assert.deepEqual(jsonLines(handed.stdout)[0], { event: 'handed-back', runId, backfill: 'pgjob', from: 'paused', state: 'pending' });
      const status = JSON.parse((await runCli(t.args('status', runId, '--json'), { cwd: t.dir, env: t.env })).stdout) as {
        run: { state: string };
        transitions: Array<{ from: string; to: string; actor: string; reason: string }>;
      };
      assert.equal(status.run.state, 'pending');
      const last = status.transitions.at(-1)!;
      assert.deepEqual([last.from, last.to, last.actor, last.reason], ['paused', 'pending', 'oncall', 'maintenance over']);

      const worker = await runCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env });
      assert.equal(worker.code, 0, worker.stderr.slice(-3000));
      assert.equal(await t.runState(runId), 'succeeded');
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });

      const refused = await runCli(t.args('resume', runId, '--detach'), { cwd: t.dir, env: t.env });
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, new RegExp(`run ${runId} is succeeded; only a paused run can be handed back to the workers`));
      assert.match(refused.stderr, /hint: it has ended; start a new run of pgjob instead/);
    } finally {
      await t.cleanup();
    }
  });

  it('retry --detach reopens a failed run for the workers: its failed partition is pending again and a worker finishes it', async () => {
    const t = await setup('reopen');
    try {
      const runId = await t.enqueue(2);
      const broken = await runCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), {
        cwd: t.dir,
        env: { ...t.env, BROKEN_KEY: '1' },
      });
      assert.equal(broken.code, 0, broken.stderr.slice(-3000));
      assert.equal(await t.runState(runId), 'failed');

      const handed = await runCli(t.args('retry', runId, '--detach'), { cwd: t.dir, env: t.env });
      assert.equal(handed.code, 0, handed.stderr);
      assert.deepEqual(jsonLines(handed.stdout)[0], { event: 'handed-back', runId, backfill: 'pgjob', from: 'failed', state: 'pending' });
      const states = (await t.partitions(runId)).map((p) => p.state);
      assert.ok(!states.includes('failed') && states.includes('pending'), `partitions after retry --detach: ${states.join(', ')}`);

      const worker = await runCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env });
      assert.equal(worker.code, 0, worker.stderr.slice(-3000));
      assert.equal(await t.runState(runId), 'succeeded');
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      await t.cleanup();
    }
  });
});
