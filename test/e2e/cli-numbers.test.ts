import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { runInTerminal, terminalSkip } from '../helpers/terminal.js';

interface Summary {
  runId: string;
  state: string;
  counts: { received: number };
  batches: number;
  durationMs: number;
  executionCounts: { received: number };
  executionBatches: number;
  activeMs: number;
  itemsPerSecond: number;
  runItemsPerSecond: number;
}

describe('numbers that do not lie (issue 15, point 8)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('resume and retry refuse the flags that only a new run can honour, and leave the run as it was', async () => {
    const db = join(dir, 'refuse.db');
    const seeded = await runCli(['demo', '--rows', '3000', '--max-batches', '1', '--db', db, '--json'], { cwd: dir });
    assert.equal(seeded.code, 0, seeded.stderr);
    const runId = jsonLines(seeded.stdout).find((l) => l.event === 'summary')!.runId as string;
    const refusals: Array<[string[], RegExp, RegExp]> = [
      [
        ['resume', runId, '--since', '7d'],
        new RegExp(`^sluice: --since applies to a new run; run ${runId} keeps the window it was created with$`),
        /sluice run <backfill> --new --since 7d/,
      ],
      [['retry', runId, '--since', '2024-05-01'], /^sluice: --since applies to a new run/, /--new --since 2024-05-01/],
      [
        ['resume', runId, '--dry-run'],
        new RegExp(`^sluice: --dry-run applies to a new run; \`sluice resume\` executes run ${runId} for real$`),
        /sluice run <backfill> --dry-run/,
      ],
      [
        ['resume', runId, '--dry-run', '--sample', 'size-buckets'],
        /^sluice: --sample samples the items of a new dry run/,
        /--dry-run --sample size-buckets/,
      ],
      [
        ['retry', runId, '--sample-size', '5'],
        /^sluice: --sample-size samples the items of a new dry run; `sluice retry` executes/,
        /--dry-run --sample size-buckets/,
      ],
    ];
    for (const [args, message, hint] of refusals) {
      const r = await runCli([...args, '--db', db], { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: a usage error\n${r.stderr}`);
      const [first, second, ...rest] = r.stderr.trimEnd().split('\n');
      assert.match(first!, message, args.join(' '));
      assert.match(second!, /^hint: /);
      assert.match(second!, hint);
      assert.deepEqual(rest, [], 'one line and a hint');
    }
    const status = JSON.parse((await runCli(['status', runId, '--db', db, '--json'], { cwd: dir })).stdout) as {
      run: { state: string; batches: number };
    };
    assert.deepEqual([status.run.state, status.run.batches], ['paused', 1], 'nothing ran');
    const help = await runCli(['resume', '--help'], { cwd: dir });
    assert.doesNotMatch(help.stdout, /--since|--dry-run|--sample/, 'resume does not offer them');
  });

  it("the summary gives this invocation's rate over its own items and the run's over its time running, both in JSON and on a terminal", async () => {
    const db = join(dir, 'rates.db');
    const first = await runCli(['demo', '--rows', '12000', '--max-batches', '9', '--db', db, '--json'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const a = jsonLines(first.stdout).find((l) => l.event === 'summary') as unknown as Summary;
    assert.deepEqual([a.counts.received, a.executionCounts.received, a.executionBatches], [9000, 9000, 9]);

    const second = await runCli(['resume', a.runId, '--db', db, '--json'], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    const b = jsonLines(second.stdout).find((l) => l.event === 'summary') as unknown as Summary;
    assert.equal(b.state, 'succeeded');
    assert.equal(b.counts.received, 12000, "the run's items, both invocations");
    assert.equal(b.executionCounts.received, 3000, 'what this invocation read and handled');
    assert.equal(b.itemsPerSecond, Math.round(3000 / (b.durationMs / 1000)), "this invocation's rate: its own items over its own time");
    assert.equal(b.runItemsPerSecond, Math.round(12000 / (b.activeMs / 1000)), "the run's rate: all its items over its time running");
    // The run's time running is both executions' (give or take the few ms between a transition and
    // an execution's clock), not its wall time since creation, which includes the pause between them.
    const status = JSON.parse((await runCli(['status', a.runId, '--db', db, '--json'], { cwd: dir })).stdout) as {
      run: { createdAt: string; finishedAt: string };
    };
    const wallMs = Date.parse(status.run.finishedAt) - Date.parse(status.run.createdAt);
    assert.ok(Math.abs(b.activeMs - (a.durationMs + b.durationMs)) < 200, `active ${b.activeMs} ms ≈ ${a.durationMs} + ${b.durationMs} ms`);
    assert.ok(b.activeMs < wallMs, `active ${b.activeMs} ms < ${wallMs} ms since creation`);
  });

  it("on a terminal, a resumed run's summary says what this invocation did and what the run did", { skip: terminalSkip() }, async () => {
    const db = join(dir, 'terminal.db');
    const first = await runCli(['demo', '--rows', '6000', '--max-batches', '4', '--db', db, '--json'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const runId = jsonLines(first.stdout).find((l) => l.event === 'summary')!.runId as string;
    const { code, output } = runInTerminal(['resume', runId, '--db', db], { cwd: dir });
    assert.equal(code, 0, output);
    assert.match(output, /\n {2}this invocation: 2,000 items in \d+ batches in [\d.]+s \([\d,]+ items\/s\)\n/);
    assert.match(output, /\n {2}the run: 6,000 items in \d+ batches over [\d.]+s running \([\d,]+ items\/s\)\n/);
    assert.doesNotMatch(output, /this session/);
  });
});
