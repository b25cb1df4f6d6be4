import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

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
      [['resume', runId, '--since', '7d'], new RegExp(`^sluice: --since applies to a new run; run ${runId} keeps the window it was created with$`), /sluice run <backfill> --new --since 7d/],
      [['retry', runId, '--since', '2024-05-01'], /^sluice: --since applies to a new run/, /--new --since 2024-05-01/],
      [['resume', runId, '--dry-run'], new RegExp(`^sluice: --dry-run applies to a new run; \`sluice resume\` executes run ${runId} for real$`), /sluice run <backfill> --dry-run/],
      [['resume', runId, '--dry-run', '--sample', 'size-buckets'], /^sluice: --sample samples the items of a new dry run/, /--dry-run --sample size-buckets/],
      [['retry', runId, '--sample-size', '5'], /^sluice: --sample-size samples the items of a new dry run; `sluice retry` executes/, /--dry-run --sample size-buckets/],
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
    const status = JSON.parse((await runCli(['status', runId, '--db', db, '--json'], { cwd: dir })).stdout) as { run: { state: string; batches: number } };
    assert.deepEqual([status.run.state, status.run.batches], ['paused', 1], 'nothing ran');
    const help = await runCli(['resume', '--help'], { cwd: dir });
    assert.doesNotMatch(help.stdout, /--since|--dry-run|--sample/, 'resume does not offer them');
  });
});
