import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { collect, jsonLines, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

describe('CLI: SIGTERM', () => {
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
      const rows = conn.prepare('SELECT COUNT(risk_score) AS scored, MIN(score_writes) AS minW, MAX(score_writes) AS maxW FROM emails').get();
      conn.close();
      assert.deepEqual(rows, { scored: 400000, minW: 1, maxW: 1 });
    } finally {
      await cleanup();
    }
  });
});
