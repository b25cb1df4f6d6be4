import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SLUICE_BIN, runCli } from '../helpers/cli.js';
import { ROOT } from '../helpers/examples.js';
import { prometheusSkip } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/temp.js';

/** The `npx sluice …` lines of the runbook's code blocks, in order. */
function runbookCommands(): string[] {
  const text = readFileSync(join(ROOT, 'docs', 'runbook.md'), 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('npx sluice'));
}

describe('docs/runbook.md', () => {
  it('every command in it works as written, in its order, on the demo', async () => {
    const { dir, cleanup } = await tempDir();
    const db = join(dir, 'store.db');
    try {
      const seeded = await runCli(['demo', '--rows', '5000', '--max-batches', '1', '--db', db], { cwd: dir });
      assert.equal(seeded.code, 0, seeded.stderr);
      const commands = runbookCommands();
      assert.ok(commands.length >= 25, `the runbook's commands (${commands.length})`);
      let runId: string | undefined;
      let lastVerify: ReturnType<typeof spawnSync> | undefined;
      for (const command of commands) {
        if (command.startsWith('npx sluice serve')) continue; // runs until stopped: covered by the serve and API tests
        if (command.includes('promtool') && prometheusSkip()) continue;
        if (command.includes('<run>') && !runId) assert.fail(`"${command}" comes before any run exists`);
        const line = command
          .replaceAll('<run>', runId ?? '')
          .replaceAll('<backfill>', 'demo-email-risk-scores')
          .replace(/^npx sluice/, `node ${SLUICE_BIN}`);
        const result = spawnSync('bash', ['-c', line], { cwd: dir, env: { ...process.env, SLUICE_DB: db }, encoding: 'utf8' });
        // A command may refuse what the run's state does not allow (pause a finished run: exit 2 with
        // the reason); it must never be unknown, malformed or crash.
        assert.doesNotMatch(
          result.stderr,
          /unknown option|unknown command|unexpected error|too many arguments|missing required|must be/,
          `${command}\n${result.stderr}`,
        );
        assert.ok([0, 1, 2, 3].includes(result.status ?? -1), `${command}: exit ${result.status}\n${result.stderr}`);
        if (command.includes('--canary')) {
          runId = (
            await runCli(['list', '--json', '--db', db], { cwd: dir }).then((r) => JSON.parse(r.stdout) as Array<{ id: string }>)
          )[0]!.id;
          assert.equal(result.status, 0, result.stderr);
        }
        if (command.startsWith('npx sluice verify')) lastVerify = result;
      }
      assert.equal(lastVerify?.status, 0, `the demo's checks pass once the run is done\n${lastVerify?.stdout}`);
      const report = readFileSync(join(dir, 'backfill-report.md'), 'utf8');
      assert.match(report, /## Verification[\s\S]*every email scored \| yes/);
      const status = JSON.parse((await runCli(['status', runId!, '--json', '--db', db], { cwd: dir })).stdout) as {
        run: { state: string };
      };
      assert.equal(status.run.state, 'succeeded', "the canary's run finished through the runbook");
    } finally {
      await cleanup();
    }
  });
});
