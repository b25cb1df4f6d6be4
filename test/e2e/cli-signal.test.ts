import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

describe('CLI: SIGTERM and SIGINT', () => {
  it('finishes the batch in flight, pauses the run (exit 3), and resume finishes it', async () => {
    const { dir, cleanup } = await tempDir();
    const db = join(dir, 'sig.db');
    try {
      const child = startCli(['demo', '--db', db, '--rows', '400000', '--batch-size', '200'], { cwd: dir });
      const done = collect(child);
      await waitForLine(child, /"event":"progress"/);
      child.kill('SIGTERM');
      const result = await done;
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /finishing the batch in flight, then pausing/);
      const summary = jsonLines(result.stdout).find((e) => e.event === 'summary')!;
      assert.equal(summary.state, 'paused');
      const status = JSON.parse((await runCli(['status', String(summary.runId), '--db', db, '--json'], { cwd: dir })).stdout) as {
        transitions: Array<{ to: string; actor: string; reason: string }>;
      };
      const last = status.transitions.at(-1)!;
      assert.deepEqual([last.to, last.actor, last.reason], ['paused', 'signal', 'received SIGTERM']);

      const resumed = await runCli(['resume', String(summary.runId), '--db', db], { cwd: dir });
      assert.equal(resumed.code, 0, resumed.stderr);
      const conn = new Database(db, { readonly: true });
      const rows = conn
        .prepare('SELECT COUNT(risk_score) AS scored, MIN(score_writes) AS minW, MAX(score_writes) AS maxW FROM emails')
        .get();
      conn.close();
      assert.deepEqual(rows, { scored: 400000, minW: 1, maxW: 1 });
    } finally {
      await cleanup();
    }
  });

  it('a second SIGINT stops at once (exit 130) without waiting for the batch in flight; the next run resumes from the last checkpoint', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeFileSync(join(dir, 'events.jsonl'), Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i })).join('\n') + '\n');
      // The third batch hangs once (while the file "hang" exists): the batch in flight when Ctrl-C comes.
      writeFileSync(join(dir, 'hang'), '');
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { appendFileSync, existsSync, unlinkSync } from 'node:fs';
import { defineBackfill, jsonl } from '${SLUICE}';
export default [
  defineBackfill<{ id: number }>({
    name: 'events',
    source: jsonl({ path: 'events.jsonl' }),
    key: (e) => e.id,
    batchSize: 10,
    async process(batch, ctx) {
      appendFileSync('delivered.jsonl', batch.map((e) => JSON.stringify({ id: e.id, key: ctx.idempotencyKey(e) })).join('\\n') + '\\n');
      if (batch[0]!.id === 20 && existsSync('hang')) {
        unlinkSync('hang');
        process.stderr.write('hanging in batch 3\\n');
        await new Promise((resolve) => setTimeout(resolve, 120_000));
      }
    },
  }),
];
`,
      );
      const db = join(dir, 's.db');
      const child = startCli(['run', 'events', '--db', db], { cwd: dir });
      const done = collect(child);
      await waitForLine(child, /hanging in batch 3/, 30_000, 'stderr');
      child.kill('SIGINT');
      await waitForLine(child, /press Ctrl-C again to stop at once/, 30_000, 'stderr');
      child.kill('SIGINT');
      const result = await done;
      assert.equal(result.code, 130, result.stderr);
      assert.match(result.stderr, /stopping at once/);
      assert.equal(
        jsonLines(result.stdout).find((e) => e.event === 'summary'),
        undefined,
        'it did not wait for the batch',
      );

      const again = await runCli(['run', 'events', '--db', db], { cwd: dir });
      assert.equal(again.code, 0, again.stderr);
      const summary = jsonLines(again.stdout).find((e) => e.event === 'summary')!;
      assert.equal(summary.state, 'succeeded');
      const runs = JSON.parse((await runCli(['list', '--db', db, '--json'], { cwd: dir })).stdout) as Array<{ id: string }>;
      assert.deepEqual(
        runs.map((r) => r.id),
        [summary.runId],
        'the interrupted run was resumed, not replaced',
      );
      // Batches 1 and 2 were checkpointed; only the batch in flight (ids 20-29) is delivered again, with the same keys.
      const delivered = readFileSync(join(dir, 'delivered.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: number; key: string });
      const counts = new Map<number, string[]>();
      for (const d of delivered) counts.set(d.id, [...(counts.get(d.id) ?? []), d.key]);
      assert.equal(counts.size, 100);
      const twice = [...counts].filter(([, keys]) => keys.length > 1);
      assert.deepEqual(
        twice.map(([id]) => id),
        [20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
      );
      assert.ok(
        twice.every(([, keys]) => keys.length === 2 && keys[0] === keys[1]),
        'a repeat carries the same idempotency key',
      );
    } finally {
      await cleanup();
    }
  });
});
