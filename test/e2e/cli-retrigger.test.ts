import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

/** Two backfills over 60 numbered items: one keyed per installation (held while a file hold-<installation> exists), one that fails item 7 until fixed. */
function writeConfig(dir: string): void {
  writeFileSync(
    join(dir, 'sluice.config.ts'),
    `import { appendFileSync, existsSync } from 'node:fs';
import { defineBackfill, iterable, PermanentError } from '${SLUICE}';

const items = (cursor: unknown) => Array.from({ length: 60 - Number(cursor ?? 0) }, (_, i) => ({ n: Number(cursor ?? 0) + i + 1 }));

export default [
  defineBackfill<{ n: number; installation: string }>({
    name: 'sync',
    // Each installation's own items: the ledger keeps them apart.
    source: iterable({ from: (cursor, { params }) => items(cursor).map((i) => ({ ...i, installation: String(params.installationId) })), cursorOf: (item) => item.n }),
    key: (item) => item.installation + ':' + item.n,
    batchSize: 10,
    concurrencyKeys: { installationId: { runs: 1 } },
    async process(batch, ctx) {
      appendFileSync('sync.log', batch.map((i) => ctx.run.id + ' ' + i.n).join('\\n') + '\\n');
      while (existsSync('hold-' + String(ctx.run.params.extra?.installationId))) await new Promise((resolve) => setTimeout(resolve, 20));
    },
  }),
  defineBackfill<{ n: number }>({
    name: 'picky',
    source: iterable({ from: items, cursorOf: (item) => item.n }),
    key: (item) => item.n,
    batchSize: 10,
    maxFailureRatio: 1,
    retry: { attempts: 1 },
    async process(batch) {
      if (!existsSync('fixed') && batch.some((i) => i.n === 7)) throw new PermanentError('item 7 needs the fix');
      appendFileSync('picky.log', batch.map((i) => String(i.n)).join('\\n') + '\\n');
    },
  }),
];
`,
  );
}

describe('CLI: re-triggers and queued runs', () => {
  it('a second `sluice run` of a busy installation waits for the slot, says so, then runs', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeConfig(dir);
      writeFileSync(join(dir, 'hold-42'), '');
      const db = ['--db', join(dir, 'store.db')];
      const first = startCli(['run', 'sync', '--param', 'installationId=42', ...db], { cwd: dir });
      const firstDone = collect(first);
      await waitForLine(first, /"event":"started"/);
      const second = startCli(['run', 'sync', '--new', '--param', 'installationId=42', ...db], { cwd: dir });
      const secondDone = collect(second);
      const queued = await waitForLine(second, /"event":"queued"/, 30_000, 'stderr');
      assert.match(queued, /installationId=42 has 1 running run \(at most 1\)/);
      // While the first holds the slot, another installation runs at once.
      const other = await runCli(['run', 'sync', '--param', 'installationId=43', ...db], { cwd: dir });
      assert.equal(other.code, 0, other.stderr);
      rmSync(join(dir, 'hold-42'));
      const [a, b] = await Promise.all([firstDone, secondDone]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const firstRun = String(jsonLines(a.stdout).find((e) => e.event === 'summary')!.runId);
      const queuedSummary = jsonLines(b.stdout).find((e) => e.event === 'summary') as {
        runId: string;
        counts: { processed: number; skipped: number };
      };
      assert.notEqual(firstRun, queuedSummary.runId);
      // The queued run started once the first had ended, and delivered nothing twice: the ledger
      // already held every item of installation 42.
      const statusOf = async (runId: string) =>
        JSON.parse((await runCli(['status', runId, '--json', ...db], { cwd: dir })).stdout) as {
          run: { startedAt: string; finishedAt: string };
        };
      const [one, two] = [await statusOf(firstRun), await statusOf(queuedSummary.runId)];
      assert.ok(
        Date.parse(two.run.startedAt) >= Date.parse(one.run.finishedAt),
        `second started ${two.run.startedAt}, first finished ${one.run.finishedAt}`,
      );
      assert.deepEqual([queuedSummary.counts.processed, queuedSummary.counts.skipped], [0, 60]);
      const log = readFileSync(join(dir, 'sync.log'), 'utf8').trim().split('\n');
      assert.equal(log.filter((l) => l.startsWith(firstRun)).length, 60);
      assert.equal(log.length, 120, 'installation 42 once, installation 43 once');
    } finally {
      await cleanup();
    }
  });

  it('--reprocess failed replays what earlier runs quarantined; a bad mode is refused', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeConfig(dir);
      const db = ['--db', join(dir, 'store.db')];
      const first = await runCli(['run', 'picky', ...db], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const summary = jsonLines(first.stdout).find((e) => e.event === 'summary') as { counts: { processed: number; quarantined: number } };
      // Bisection isolates item 7: the rest of its batch is delivered.
      assert.deepEqual([summary.counts.processed, summary.counts.quarantined], [59, 1]);

      const bad = await runCli(['run', 'picky', '--reprocess', 'some', ...db], { cwd: dir });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--reprocess must be none, failed or all, got "some"/);

      const stillBroken = await runCli(['run', 'picky', '--reprocess', 'failed', ...db], { cwd: dir });
      assert.equal(stillBroken.code, 1, 'an item that still fails keeps the exit code non-zero');

      writeFileSync(join(dir, 'fixed'), '');
      const replay = await runCli(['run', 'picky', '--reprocess', 'failed', ...db], { cwd: dir });
      assert.equal(replay.code, 0, replay.stderr);
      assert.deepEqual(
        jsonLines(replay.stdout)
          .filter((e) => e.event === 'replayed')
          .map((e) => [e.attempted, e.replayed, e.stillFailing]),
        [[1, 1, 0]],
      );
      const delivered = readFileSync(join(dir, 'picky.log'), 'utf8').trim().split('\n').map(Number);
      assert.equal(delivered.filter((n) => n === 7).length, 1, 'item 7 delivered once, by the replay');
      assert.equal(delivered.length, 60);

      const nothing = await runCli(['run', 'picky', '--reprocess', 'none', '--new', ...db], { cwd: dir });
      assert.equal(nothing.code, 0, nothing.stderr);
      const again = jsonLines(nothing.stdout).find((e) => e.event === 'summary') as { counts: { processed: number; skipped: number } };
      assert.deepEqual([again.counts.processed, again.counts.skipped], [0, 60], 'the ledger holds all 60 now');
    } finally {
      await cleanup();
    }
  });
});
