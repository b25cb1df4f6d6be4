import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { pgItemsBackfill } from '../helpers/pg-backfill.js';
import { TEST_PG } from '../helpers/postgres.js';

const ROWS = 20_000;

const setup = (prefix: string) => pgItemsBackfill(prefix, ROWS);

/** Polls `look` every `everyMs` until it gives a value, failing after `timeoutMs` with what it waited for. */
async function until<T>(look: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await look();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) assert.fail(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

describe('workers on PostgreSQL (real processes)', () => {
  it('two workers share one run: every row exactly once, both did work', async () => {
    const t = await setup('share');
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '6'), { cwd: t.dir, env: t.env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);
      const workers = [0, 1].map(() =>
        collect(
          startCli(t.args('worker', '--exit-when-idle', '--poll', '100ms', '--concurrency', '3'), {
            cwd: t.dir,
            env: { ...t.env, BATCH_DELAY_MS: '5' },
          }),
        ),
      );
      const results = await Promise.all(workers);
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
      const status = JSON.parse((await runCli(t.args('status', runId, '--json'), { cwd: t.dir, env: t.env })).stdout) as {
        run: { state: string; counts: { processed: number } };
      };
      assert.equal(status.run.state, 'succeeded');
      assert.equal(status.run.counts.processed, ROWS);
      // Both processes joined the run and processed part of it.
      for (const r of results)
        assert.ok(
          jsonLines(r.stdout).some((e) => e.event === 'outcome' && e.runId === runId),
          r.stdout.slice(0, 500),
        );
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

  it('SIGKILL one of three busy workers: the others take its partitions over within one lease plus one poll, though every lane of theirs is busy', async () => {
    const t = await setup('orphans');
    const admin = new pg.Client({ connectionString: TEST_PG });
    await admin.connect();
    const LEASE_MS = 2000;
    const POLL_MS = 200;
    // What the measurement adds to the bound: the 25 ms this test polls at, the claim's round trip,
    // and timers late on a machine shared with other test runs.
    const SLACK_MS = 1000;
    const workers: Array<ReturnType<typeof startCli>> = [];
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '6'), { cwd: t.dir, env: t.env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);
      const partitions = async () =>
        (
          await admin.query<{ idx: number; state: string; fence: string; lease_owner: string | null }>(
            `SELECT idx, state, fence, lease_owner FROM "${t.schema}".sluice_partitions WHERE run_id = $1 ORDER BY idx`,
            [runId],
          )
        ).rows;
      // Three workers of two lanes each, six partitions of ~17 batches of 400 ms: every lane holds a
      // partition for seconds longer than the takeover may take.
      for (let i = 0; i < 3; i++) {
        workers.push(
          startCli(t.args('worker', '--exit-when-idle', '--concurrency', '2', '--lease', `${LEASE_MS}ms`, '--poll', `${POLL_MS}ms`), {
            cwd: t.dir,
            env: { ...t.env, BATCH_DELAY_MS: '400' },
          }),
        );
      }
      const results = workers.map((w) => collect(w));
      const pidOf = (owner: string | null) => Number(owner?.split(':')[1]);
      const allHeld = await until(
        async () => {
          const rows = await partitions();
          return rows.length === 6 &&
            rows.every((p) => p.state === 'running' && p.lease_owner !== null) &&
            new Set(rows.map((p) => p.lease_owner)).size === 3
            ? rows
            : undefined;
        },
        120_000,
        'every lane of the three workers holding a partition',
      ); // starting three processes is slow on a loaded machine
      const victim = workers[0]!;
      const orphans = allHeld.filter((p) => pidOf(p.lease_owner) === victim.pid);
      assert.equal(orphans.length, 2, JSON.stringify(allHeld));
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      const takenOver = new Map<number, { ms: number; owner: string | null }>();
      await until(
        async () => {
          for (const p of await partitions()) {
            const orphan = orphans.find((o) => o.idx === p.idx);
            if (orphan && !takenOver.has(p.idx) && Number(p.fence) > Number(orphan.fence))
              takenOver.set(p.idx, { ms: Date.now() - killedAt, owner: p.lease_owner });
          }
          return takenOver.size === orphans.length ? true : undefined;
        },
        30_000,
        "the killed worker's partitions taken over",
        25,
      );
      for (const [idx, { ms, owner }] of takenOver) {
        assert.ok(
          ms <= LEASE_MS + POLL_MS + SLACK_MS,
          `partition ${idx} was taken over ${ms} ms after the kill (bound: lease ${LEASE_MS} + poll ${POLL_MS} + slack ${SLACK_MS})`,
        );
        assert.ok(
          [workers[1]!.pid, workers[2]!.pid].includes(pidOf(owner)),
          `partition ${idx} went to ${owner}, not to a surviving worker`,
        );
      }
      assert.equal((await results[0])!.signal, 'SIGKILL');
      for (const r of await Promise.all(results.slice(1))) assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await t.rows(), { scored: ROWS, min: 1, max: 1 });
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await admin.end();
      await t.cleanup();
    }
  });

  it('status after every worker was SIGKILLed: the run shows stalled, since when, and each partition its lease owner, expiry and heartbeat age', async () => {
    const t = await setup('stalled');
    let worker: ReturnType<typeof startCli> | undefined;
    try {
      const enqueued = await runCli(t.args('run', 'pgjob', '--detach', '--concurrency', '2'), { cwd: t.dir, env: t.env });
      const runId = String(jsonLines(enqueued.stdout)[0]!.runId);
      worker = startCli(t.args('worker', '--poll', '100ms', '--lease', '20s'), { cwd: t.dir, env: { ...t.env, BATCH_DELAY_MS: '50' } });
      const done = collect(worker);
      type Status = {
        at: string;
        active: boolean;
        run: { state: string };
        stalled: { since: string; lastHeartbeatAt: string | null; leasesExpiredAt: string | null } | null;
        partitions: Array<{
          index: number;
          state: string;
          leaseOwner: string | null;
          leaseExpiresAt: string | null;
          leaseLive: boolean;
          heartbeatAt: string | null;
          heartbeatAgeMs: number | null;
        }>;
      };
      const status = async () => JSON.parse((await runCli(t.args('status', runId, '--json'), { cwd: t.dir, env: t.env })).stdout) as Status;
      const working = await until(
        async () => {
          const s = await status();
          return s.partitions.every((p) => p.state === 'running' && p.leaseLive) ? s : undefined;
        },
        120_000,
        'both partitions leased by the worker',
      );
      assert.equal(working.active, true);
      assert.equal(working.stalled, null, 'a run a live worker holds is not stalled');
      worker.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');
      const stalled = await status();
      const now = Date.parse(stalled.at);
      assert.equal(stalled.run.state, 'running', 'the run is still recorded as running');
      assert.equal(stalled.active, false);
      assert.ok(stalled.stalled, 'and shown as stalled');
      const heartbeats = stalled.partitions.map((p) => Date.parse(p.heartbeatAt!));
      assert.equal(stalled.stalled.lastHeartbeatAt, new Date(Math.max(...heartbeats)).toISOString());
      assert.ok(
        Date.parse(stalled.stalled.since) >= Math.max(...heartbeats) && Date.parse(stalled.stalled.since) <= now,
        JSON.stringify(stalled.stalled),
      );
      assert.equal(stalled.stalled.leasesExpiredAt, null, 'the leases have not run out: the worker is known dead on this host');
      for (const p of stalled.partitions) {
        assert.equal(Number(p.leaseOwner!.split(':')[1]), worker.pid, 'the lease owner is the killed worker');
        assert.equal(p.leaseLive, false);
        assert.ok(Date.parse(p.leaseExpiresAt!) > now, 'its lease expiry (20 s after its last heartbeat) is still ahead');
        assert.equal(p.heartbeatAgeMs, now - Date.parse(p.heartbeatAt!), "the heartbeat's age on the store's clock");
      }
      const shown = await runCli(t.args('status', runId), { cwd: t.dir, env: t.env });
      assert.match(
        shown.stdout,
        new RegExp(
          `^run ${runId}  pgjob  running \\(stalled\\)\n  STALLED since ${stalled.stalled.since.replace(/\./g, '\\.')}: running, but no live lease \\(last heartbeat [0-9.]+s ago\\)$`,
          'm',
        ),
      );
      assert.match(shown.stdout, /sluice worker\) or take it over here \(sluice resume /);
      assert.match(
        shown.stdout,
        new RegExp(
          `#0  running .*owns .*\n +lease: [^,]+:${worker.pid}:[^,]+, its process is gone \\(the lease would run until [^)]+\\); last heartbeat [0-9.]+s ago`,
        ),
      );
      for (const args of [['list'], ['status']]) {
        assert.match(
          (await runCli(t.args(...args), { cwd: t.dir, env: t.env })).stdout,
          new RegExp(`${runId} .* running .*STALLED since ${stalled.stalled.since.replace(/\./g, '\\.')} \\(no live lease\\)`),
          args.join(' '),
        );
      }
      const listed = JSON.parse((await runCli(t.args('status', '--json'), { cwd: t.dir, env: t.env })).stdout) as Array<{
        id: string;
        stalled: { since: string } | null;
      }>;
      assert.equal(listed.find((r) => r.id === runId)?.stalled?.since, stalled.stalled.since);
      // A worker takes it over: no longer stalled, and it finishes.
      const finisher = await runCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env });
      assert.equal(finisher.code, 0, finisher.stderr);
      const finished = await status();
      assert.deepEqual([finished.run.state, finished.stalled], ['succeeded', null]);
    } finally {
      if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
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
      const survivor = collect(
        startCli(t.args('worker', '--lease', '1s', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env }),
      );
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
      const worker = startCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), {
        cwd: t.dir,
        env: { ...t.env, BATCH_DELAY_MS: '15' },
      });
      const done = collect(worker);
      await waitForLine(worker, /"event":"progress"/);
      let terminated = 0;
      for (let i = 0; i < 3; i++) {
        const { rows } = await admin.query(
          `SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`,
          [`sluice:${t.schema}`],
        );
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
