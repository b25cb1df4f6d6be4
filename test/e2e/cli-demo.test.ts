import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

function emails(db: string) {
  const conn = new Database(db, { readonly: true });
  try {
    return conn
      .prepare(
        'SELECT COUNT(*) AS total, COUNT(risk_score) AS scored, MIN(score_writes) AS minW, MAX(score_writes) AS maxW, SUM(score_writes) AS writes FROM emails',
      )
      .get() as {
      total: number;
      scored: number;
      minW: number;
      maxW: number;
      writes: number;
    };
  } finally {
    conn.close();
  }
}

describe('CLI: the demo', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('scores every row exactly once and reports coverage as JSON lines when not on a terminal', async () => {
    const db = join(dir, 'full.db');
    const r = await runCli(['demo', '--db', db, '--rows', '20000'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    const summary = events.find((e) => e.event === 'summary')!;
    assert.equal(summary.state, 'succeeded');
    assert.deepEqual(summary.coverage, { total: 20000, scored: 20000, minWrites: 1, maxWrites: 1, percent: 100 });
    assert.ok(events.some((e) => e.event === 'started'));
    assert.deepEqual(emails(db), { total: 20000, scored: 20000, minW: 1, maxW: 1, writes: 20000 });

    const status = await runCli(['status', String(summary.runId), '--db', db, '--json'], { cwd: dir });
    assert.equal(status.code, 0);
    const parsed = JSON.parse(status.stdout) as {
      run: { state: string; counts: { processed: number } };
      transitions: Array<{ to: string }>;
    };
    assert.equal(parsed.run.state, 'succeeded');
    assert.equal(parsed.run.counts.processed, 20000);
    assert.deepEqual(
      parsed.transitions.map((t) => t.to),
      ['pending', 'running', 'succeeded'],
    );

    const list = await runCli(['list', '--db', db, '--json'], { cwd: dir });
    assert.deepEqual(
      (JSON.parse(list.stdout) as Array<{ id: string }>).map((run) => run.id),
      [summary.runId],
    );

    const pause = await runCli(['pause', String(summary.runId), '--db', db], { cwd: dir });
    assert.equal(pause.code, 2);
    assert.match(pause.stderr, /is succeeded; only pending or running runs can be paused/);
  });

  it('--max-batches stops cleanly (exit 0), and the next demo resumes the same run', async () => {
    const db = join(dir, 'max.db');
    const first = await runCli(['demo', '--db', db, '--rows', '10000', '--batch-size', '1000', '--max-batches', '3'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const a = jsonLines(first.stdout).find((e) => e.event === 'summary')!;
    assert.equal(a.state, 'paused');
    assert.equal(emails(db).scored, 3000);
    const second = await runCli(['demo', '--db', db], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    const b = jsonLines(second.stdout).find((e) => e.event === 'summary')!;
    assert.equal(b.runId, a.runId);
    assert.equal(b.state, 'succeeded');
    assert.deepEqual(emails(db), { total: 10000, scored: 10000, minW: 1, maxW: 1, writes: 10000 });
  });

  it('--dry-run changes nothing and records no run', async () => {
    const db = join(dir, 'dry.db');
    const r = await runCli(['demo', '--db', db, '--rows', '5000', '--dry-run'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const summary = jsonLines(r.stdout).find((e) => e.event === 'summary')!;
    assert.equal(summary.dryRun, true);
    assert.equal((summary.counts as { processed: number }).processed, 5000);
    assert.equal(emails(db).scored, 0);
    const list = await runCli(['list', '--db', db, '--json'], { cwd: dir });
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  it('--since limits the run to recent emails', async () => {
    const db = join(dir, 'since.db');
    const r = await runCli(['demo', '--db', db, '--rows', '12000', '--since', '30d'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const scored = emails(db).scored;
    // Emails are spread evenly over 120 days: the last 30 days hold about a quarter of them.
    assert.ok(scored > 2800 && scored < 3200, `scored ${scored}`);
  });
});
