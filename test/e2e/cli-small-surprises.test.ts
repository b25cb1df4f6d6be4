import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

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
    assert.equal(plan.stderr, '', 'the timing run\'s expected stop is no news');

    const stopped = await runCli(['run', 'demo-email-risk-scores', '--max-batches', '2', '--db', db, '--json'], { cwd: dir });
    assert.equal(stopped.code, 0, stopped.stderr);
    const summary = jsonLines(stopped.stdout).find((l) => l.event === 'summary')!;
    assert.equal(summary.state, 'paused');
    assert.equal(summary.reason, 'maxBatches reached: stopped after 2 batches (resumable)', 'the core speaks of its option, not of a flag');
  });
});
