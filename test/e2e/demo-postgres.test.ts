import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, startCli } from '../helpers/cli.js';
import { scratchDatabase, TEST_PG } from '../helpers/postgres.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const ROWS = 20_000;

/** Follows the demo's JSON lines: worker pids, progress, the summary. */
function follow(child: ReturnType<typeof startCli>) {
  const state = { live: new Set<number>(), received: 0, events: [] as Array<Record<string, unknown>> };
  let buffer = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const event = JSON.parse(line) as Record<string, unknown>;
      state.events.push(event);
      if (event.event === 'worker' && event.action === 'started') state.live.add(Number(event.pid));
      if (event.event === 'worker' && event.action === 'exited') state.live.delete(Number(event.pid));
      if (event.event === 'progress') state.received = Number((event.counts as { received: number }).received);
    }
  });
  return state;
}

describe('demo on PostgreSQL with worker processes', () => {
  it('`sluice demo --db postgres://… --workers 4` with workers SIGKILLed at random moments: every row scored exactly once', async () => {
    const db = await scratchDatabase('demo');
    const { dir, cleanup } = await tempDir();
    try {
      const demo = startCli(['demo', '--db', db.url, '--workers', '4', '--rows', String(ROWS), '--batch-size', '100'], { cwd: dir });
      const done = collect(demo);
      const seen = follow(demo);
      let kills = 0;
      // Kill a random worker as the run passes 15 %, 40 % and 65 %.
      for (const share of [0.15, 0.4, 0.65]) {
        await waitFor(
          () => seen.received >= ROWS * share && seen.live.size > 0,
          `the run to pass ${share * 100} % with a live worker`,
          60_000,
          20,
        );
        const pids = [...seen.live];
        const victim = pids[Math.floor(Math.random() * pids.length)]!;
        try {
          process.kill(victim, 'SIGKILL');
          seen.live.delete(victim);
          kills += 1;
        } catch {
          // It exited on its own just now (nothing left for it): pick again next round.
        }
      }
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(kills >= 2, `killed ${kills} workers`);
      const summary = seen.events.find((e) => e.event === 'summary') as
        | { state: string; respawns: number; coverage: Record<string, number> }
        | undefined;
      assert.ok(summary, result.stdout.slice(-2000));
      assert.equal(summary.state, 'succeeded');
      assert.ok(summary.respawns >= kills, `every killed worker was replaced (${summary.respawns} for ${kills} kills)`);
      assert.deepEqual(summary.coverage, { total: ROWS, scored: ROWS, minWrites: 1, maxWrites: 1, percent: 100 });
      const exited = seen.events.filter((e) => e.event === 'worker' && e.action === 'exited' && e.signal === 'SIGKILL');
      assert.equal(exited.length, kills, 'the demo reported each kill');

      // A second demo finds nothing left to do and says so.
      const again = await collect(startCli(['demo', '--db', db.url, '--workers', '2'], { cwd: dir }));
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /using 20,000 emails already in the database/);
    } finally {
      await db.drop();
      await cleanup();
    }
  });

  it('--workers without PostgreSQL is refused with a hint, before anything is written', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const result = await collect(startCli(['demo', '--workers', '2', '--db', 'local.db'], { cwd: dir }));
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--workers needs a store that worker processes share/);
      const dry = await collect(startCli(['demo', '--workers', '2', '--dry-run', '--db', TEST_PG], { cwd: dir }));
      assert.equal(dry.code, 2);
      assert.match(dry.stderr, /--dry-run and --max-batches apply to a run in this process/);
    } finally {
      await cleanup();
    }
  });
});
