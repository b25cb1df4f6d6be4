import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/** A seeded PRNG, so a failure can be replayed with the same kill times. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crash and restart', () => {
  it('SIGKILL at random moments, restart each time: every row ends with score_writes = 1', async (t) => {
    const { dir, cleanup } = await tempDir();
    const db = join(dir, 'crash.db');
    const seed = Number(process.env.SLUICE_CRASH_SEED ?? 20261122);
    const random = prng(seed);
    const args = ['demo', '--db', db, '--rows', '100000', '--batch-size', '500'];
    const kills: string[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const child = startCli(args, { cwd: dir });
        const done = collect(child);
        // Every other kill, the first included, waits until the run is executing, then lands a
        // random moment later: mid-batch, mid-commit, anywhere (the first one always mid-run, so
        // that a takeover happens however fast the machine is). The others land a random moment
        // after the process started: while it loads, opens the store or plans the run.
        const waits = i % 2 === 0;
        if (waits) await waitForLine(child, /"event":"(started|progress)"/);
        const delay = waits ? Math.floor(random() * 300) : 5 + Math.floor(random() * 2500);
        await new Promise((resolve) => setTimeout(resolve, delay));
        child.kill('SIGKILL');
        const result = await done;
        kills.push(
          `${delay} ms after ${waits ? 'the start of the run' : 'spawn'}${result.signal === 'SIGKILL' ? '' : ' (too late: it had exited)'}`,
        );
        // A kill that landed after the run finished is fine too; the end state must be the same.
        assert.ok(result.signal === 'SIGKILL' || result.code === 0, `run ${i}: ${result.stderr}`);
      }
      t.diagnostic(`seed ${seed} (SLUICE_CRASH_SEED replays it): kills ${kills.join('; ')}`);
      const last = await runCli(args, { cwd: dir });
      assert.equal(last.code, 0, last.stderr);

      const conn = new Database(db, { readonly: true });
      const rows = conn
        .prepare('SELECT COUNT(*) AS total, COUNT(risk_score) AS scored, MIN(score_writes) AS minW, MAX(score_writes) AS maxW FROM emails')
        .get();
      const runs = conn.prepare('SELECT id, state FROM sluice_runs').all() as Array<{ id: string; state: string }>;
      const takeovers = conn
        .prepare("SELECT COUNT(*) AS n FROM sluice_transitions WHERE to_state = 'paused' AND actor = 'sluice'")
        .get() as { n: number };
      conn.close();
      assert.deepEqual(rows, { total: 100000, scored: 100000, minW: 1, maxW: 1 }, `seed ${seed}, kills ${kills.join('; ')}`);
      assert.ok(runs.length >= 1 && runs.every((run) => run.state === 'succeeded'), JSON.stringify(runs));
      assert.ok(takeovers.n >= 1, 'the takeover of a killed run is recorded');
    } finally {
      await cleanup();
    }
  });
});
