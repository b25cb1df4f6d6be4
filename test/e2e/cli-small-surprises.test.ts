import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/temp.js';
import { runInTerminal, terminalSkip } from '../helpers/terminal.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const DEMO = 'demo-email-risk-scores';

/** A project directory whose config defines one backfill, `orders` (30 lines of JSON, an SLO). */
function ordersProject(cwd: string): string {
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'orders.jsonl'), `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: i })).join('\n')}\n`);
  writeFileSync(
    join(cwd, 'sluice.config.ts'),
    `import { defineBackfill, jsonl } from '${SLUICE}';
export default [defineBackfill({
  name: 'orders', source: jsonl({ path: 'orders.jsonl' }), key: (o: { id: number }) => o.id, process() {},
  slo: { objectives: [{ name: 'errors', description: 'at most 1 % quarantined', sli: { kind: 'error-ratio' }, objective: 0.99 }] },
})];
`,
  );
  return cwd;
}

describe('no small surprises (issue 15, point 9)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('plan times its dry run without a word about a flag nobody passed', async () => {
    const db = join(dir, 'plan.db');
    const seeded = await runCli(['demo', '--rows', '20000', '--max-batches', '1', '--db', db], { cwd: dir });
    assert.equal(seeded.code, 0, seeded.stderr);
    const plan = await runCli(['plan', 'demo-email-risk-scores', '--db', db], { cwd: dir });
    assert.equal(plan.code, 0, plan.stderr);
    const estimate = jsonLines(plan.stdout).find((l) => l.event === 'plan')!;
    assert.equal((estimate.sample as { items: number }).items, 3000, 'the timing run stopped after its three batches');
    assert.doesNotMatch(plan.stderr, /--max-batches/);
    assert.equal(plan.stderr, '', "the timing run's expected stop is no news");

    const stopped = await runCli(['run', 'demo-email-risk-scores', '--max-batches', '2', '--db', db, '--json'], { cwd: dir });
    assert.equal(stopped.code, 0, stopped.stderr);
    const summary = jsonLines(stopped.stdout).find((l) => l.event === 'summary')!;
    assert.equal(summary.state, 'paused');
    assert.equal(summary.reason, 'maxBatches reached: stopped after 2 batches (resumable)', 'the core speaks of its option, not of a flag');
  });

  it("the demo backfill stays out of a project: list --backfills, /metrics, slo status and slo rules show the project's own", async () => {
    const cwd = ordersProject(join(dir, 'project'));
    const ran = await runCli(['run', 'orders'], { cwd });
    assert.equal(ran.code, 0, ran.stderr);

    const defs = JSON.parse((await runCli(['list', '--backfills', '--json'], { cwd })).stdout) as Array<{ name: string }>;
    assert.deepEqual(
      defs.map((d) => d.name),
      ['orders'],
    );
    const rules = await runCli(['slo', 'rules'], { cwd });
    assert.equal(rules.code, 0, rules.stderr);
    assert.match(rules.stdout, /backfill="orders"/);
    assert.doesNotMatch(rules.stdout, new RegExp(DEMO));
    const slo = await runCli(['slo', 'status', '--evaluate', '--json'], { cwd });
    assert.equal(slo.code, 0, slo.stderr);
    const readings = (JSON.parse(slo.stdout) as { readings: Array<{ backfill: string }> }).readings;
    assert.ok(readings.length > 0 && readings.every((r) => r.backfill === 'orders'), JSON.stringify(readings));
    const unknown = await runCli(['run', DEMO], { cwd });
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, `sluice: unknown backfill "${DEMO}"\nhint: defined backfills: orders\n`);

    const server = startCli(['serve', '--port', '0', '--no-worker', '--json'], { cwd });
    const exited = collect(server);
    try {
      const { url } = JSON.parse(await waitForLine(server, /"event":"listening"/)) as { url: string };
      const metrics = await waitFor(async () => {
        const body = await (await fetch(`${url}/metrics`)).text();
        return body.includes('sluice_slo_burn_rate{') ? body : undefined;
      }, 'the first SLO evaluation in /metrics');
      assert.match(metrics, /backfill="orders"/);
      assert.doesNotMatch(metrics, new RegExp(DEMO));
    } finally {
      server.kill('SIGTERM');
      await exited;
    }

    // Where the demo has run, it is known like any backfill: its runs can be planned, resumed, reported.
    const demoDb = join(dir, 'demo-here.db');
    const demo = await runCli(['demo', '--rows', '2000', '--max-batches', '1', '--db', demoDb, '--json'], { cwd: dir });
    assert.equal(demo.code, 0, demo.stderr);
    const here = JSON.parse((await runCli(['list', '--backfills', '--db', demoDb, '--json'], { cwd: dir })).stdout) as Array<{
      name: string;
    }>;
    assert.deepEqual(
      here.map((d) => d.name),
      [DEMO],
    );
    const runId = jsonLines(demo.stdout).find((l) => l.event === 'summary')!.runId as string;
    const resumed = await runCli(['resume', runId, '--db', demoDb, '--json'], { cwd: dir });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(jsonLines(resumed.stdout).find((l) => l.event === 'summary')!.state, 'succeeded');
  });

  it('worker --exit-when-idle says what it did, and when it had nothing to do, what workers need', async () => {
    const empty = await runCli(['worker', '--exit-when-idle', '--db', join(dir, 'idle.db')], { cwd: dir });
    assert.equal(empty.code, 0, empty.stderr);
    const idle = jsonLines(empty.stdout).find((l) => l.event === 'idle')!;
    assert.ok(idle, `a word on exit: ${empty.stdout}`);
    assert.equal(idle.runsWorked, 0);
    assert.match(idle.message as string, /^this worker knows no backfill/);
    assert.match(idle.hint as string, /sluice\.config\.ts/);
    assert.match(idle.hint as string, /sluice run <backfill> --detach/);
    assert.match(
      idle.hint as string,
      /an SQLite store .* is shared only by processes on this machine; workers on several machines share a PostgreSQL store/,
    );

    const cwd = ordersProject(join(dir, 'workers'));
    const detached = await runCli(['run', 'orders', '--detach', '--json'], { cwd });
    assert.equal(detached.code, 0, detached.stderr);
    const worked = await runCli(['worker', '--exit-when-idle', '--poll', '50ms'], { cwd });
    assert.equal(worked.code, 0, worked.stderr);
    const lines = jsonLines(worked.stdout);
    assert.equal(lines.find((l) => l.event === 'outcome')?.state, 'succeeded');
    const done = lines.find((l) => l.event === 'idle')!;
    assert.deepEqual([done.runsWorked, done.backfills, done.hint], [1, ['orders'], undefined]);
    assert.match(done.message as string, /^no pending or running run of orders left in .*; this worker worked 1 run\(s\)$/);
  });

  /** A project whose backfill `flaky` fails the first attempt of each of its 3 batches once. */
  function flakyProject(cwd: string): string {
    mkdirSync(cwd);
    writeFileSync(
      join(cwd, 'sluice.config.ts'),
      `import { defineBackfill, iterable } from '${SLUICE}';
const failed = new Set<number>();
export default [defineBackfill<{ n: number }>({
  name: 'flaky',
  source: iterable({ from: (c) => Array.from({ length: 30 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n, count: () => 30 }),
  key: (i) => i.n,
  batchSize: 10,
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  process(batch) {
    if (!failed.has(batch[0]!.n)) {
      failed.add(batch[0]!.n);
      throw Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' });
    }
  },
})];
`,
    );
    return cwd;
  }

  it('off a terminal each event is printed once: as a JSON line on stdout, not again as a log line on stderr', async () => {
    const cwd = flakyProject(join(dir, 'once'));
    const r = await runCli(['run', 'flaky'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    assert.equal(events.filter((l) => l.event === 'retry').length, 3);
    assert.equal(events.filter((l) => l.event === 'throttle').length, 1, 'the configured throttle, once');
    assert.doesNotMatch(r.stderr, /retrying after backoff|throttle configured/, 'no log line repeats an event');
  });

  it('on a terminal, log lines and event lines are readable lines that never cross the progress bar', {
    skip: terminalSkip(),
  }, async () => {
    const cwd = flakyProject(join(dir, 'terminal'));
    const { code, output } = runInTerminal(['run', 'flaky'], { cwd });
    assert.equal(code, 0, output);
    assert.doesNotMatch(output, /\{"level":/, 'no pino JSON on a terminal');
    assert.equal(
      output.match(/retrying a batch of partition 0 in \d+ ms \(attempt 1 failed: ETIMEDOUT: upstream timed out\)/g)?.length,
      3,
      output,
    );
    assert.doesNotMatch(output, /retrying after backoff/, 'each retry once');
    // Every retry line starts a line of its own: the bar is stopped before it is written.
    for (const line of output.split('\n').filter((l) => l.includes('retrying a batch')))
      assert.match(line.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b7|\u001b8/g, ''), /^retrying a batch/);
  });
});
