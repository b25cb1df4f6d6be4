import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

describe("the operator's commands on the demo", () => {
  it('plan estimates, a canary stops after its slice, a sampled dry run writes nothing, resume --gradual finishes, verify passes, report shows it', async () => {
    const { dir, cleanup } = await tempDir();
    const db = join(dir, 'store.db');
    const cli = (...args: string[]) => runCli([...args, '--db', db, '--json'], { cwd: dir });
    try {
      const canary = await cli('demo', '--rows', '12000', '--canary', '1500');
      assert.equal(canary.code, 0, `the canary did what was asked: ${canary.stderr}`);
      const summary = jsonLines(canary.stdout).find((l) => l.event === 'summary')!;
      assert.equal(summary.state, 'paused');
      assert.equal((summary.counts as { received: number }).received, 1500);
      const runId = summary.runId as string;

      const plan = await cli('plan', 'demo-email-risk-scores', '--target', '1h', '--concurrency', '2');
      assert.equal(plan.code, 0, plan.stderr);
      const estimate = jsonLines(plan.stdout).find((l) => l.event === 'plan')!;
      assert.equal(estimate.pendingItems, 10_500, "the canary's items are no longer pending");
      assert.equal(estimate.concurrency, 2);
      assert.ok((estimate.msPerItem as number) > 0 && (estimate.estimateSeconds as number) > 0);
      assert.equal(estimate.concurrencyForTarget, 1);

      const sample = await cli('run', 'demo-email-risk-scores', '--dry-run', '--sample', 'size-buckets', '--sample-size', '3');
      assert.equal(sample.code, 0, sample.stderr);
      const buckets = jsonLines(sample.stdout).find((l) => l.event === 'sample')!.buckets as Array<{
        bucket: string;
        items: number;
        processed: number;
      }>;
      assert.deepEqual(
        buckets.map((b) => [b.bucket, b.items, b.processed]),
        [
          ['small', 3, 3],
          ['medium', 3, 3],
          ['large', 3, 3],
        ],
      );

      const bad = await cli('run', 'demo-email-risk-scores', '--sample', 'size-buckets');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--sample picks items for a dry run: add --dry-run/);

      const rest = await cli('resume', runId, '--gradual', '--concurrency', '2');
      assert.equal(rest.code, 0, rest.stderr);
      const verify = await cli('verify', runId);
      assert.equal(verify.code, 0, verify.stderr);
      assert.deepEqual(
        jsonLines(verify.stdout)
          .filter((l) => l.event === 'verified')
          .map((l) => [l.check, l.passed]),
        [
          ['every email scored', true],
          ['each score written once', true],
          ['unique emails(id)', true],
        ],
      );
      const report = await runCli(['report', runId, '--db', db], { cwd: dir });
      assert.match(report.stdout, /\| every email scored \| yes \| 12000 of 12000/);
    } finally {
      await cleanup();
    }
  });
});
