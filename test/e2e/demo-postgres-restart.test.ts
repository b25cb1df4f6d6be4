import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { collect, startCli } from '../helpers/cli.js';
import { privateClusterUnavailable, startPgCluster } from '../helpers/pg-cluster.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const ROWS = 30_000;
const unavailable = privateClusterUnavailable();

describe('demo on a PostgreSQL server that restarts mid-run (a private server)', { skip: unavailable }, () => {
  it('4 workers, random SIGKILLs and a server restart: the run finishes by itself, every row scored exactly once', async () => {
    const cluster = await startPgCluster();
    const { dir, cleanup } = await tempDir();
    let demo: ReturnType<typeof startCli> | undefined;
    try {
      demo = startCli(['demo', '--db', cluster.url, '--workers', '4', '--rows', String(ROWS), '--batch-size', '100'], { cwd: dir });
      const done = collect(demo);
      const live = new Set<number>();
      let received = 0;
      let buffer = '';
      demo.stdout!.on('data', (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines.filter((l) => l.startsWith('{'))) {
          const e = JSON.parse(line) as { event: string; action?: string; pid?: number; counts?: { received: number } };
          if (e.event === 'worker' && e.action === 'started') live.add(e.pid!);
          if (e.event === 'worker' && e.action === 'exited') live.delete(e.pid!);
          if (e.event === 'progress') received = e.counts!.received;
        }
      });
      const killOne = () => {
        const pids = [...live];
        const victim = pids[Math.floor(Math.random() * pids.length)];
        if (victim === undefined) return false;
        try {
          process.kill(victim, 'SIGKILL');
          live.delete(victim);
          return true;
        } catch {
          return false;
        }
      };
      await waitFor(() => received >= ROWS * 0.1 && live.size > 0, 'the run to pass 10 %', 60_000, 20);
      const killed = [killOne()];
      await waitFor(() => received >= ROWS * 0.3, 'the run to pass 30 %', 60_000, 20);
      // The server restarts (fast shutdown: every session is cut, batches in flight roll back).
      await cluster.restart();
      await waitFor(() => received >= ROWS * 0.6 && live.size > 0, 'the run to pass 60 % after the restart', 120_000, 20);
      killed.push(killOne());
      const result = await done;
      assert.equal(result.code, 0, `${result.stderr.slice(-3000)}\n${result.stdout.slice(-1500)}`);
      const summary = JSON.parse(result.stdout.split('\n').find((l) => l.startsWith('{"event":"summary"'))!) as {
        state: string;
        respawns: number;
        coverage: Record<string, number>;
      };
      assert.equal(summary.state, 'succeeded');
      assert.deepEqual(summary.coverage, { total: ROWS, scored: ROWS, minWrites: 1, maxWrites: 1, percent: 100 });
      assert.ok(
        summary.respawns >= killed.filter(Boolean).length,
        `replaced ${summary.respawns} for ${killed.filter(Boolean).length} kills`,
      );
      // Checked straight in the table too, not only through the demo's own report.
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      const { rows } = await client.query('SELECT COUNT(*)::int AS n, MIN(score_writes) AS min, MAX(score_writes) AS max FROM emails');
      await client.end();
      assert.deepEqual(rows[0], { n: ROWS, min: 1, max: 1 });
    } finally {
      if (demo && demo.exitCode === null) demo.kill('SIGKILL');
      await cluster.stop();
      await cleanup();
    }
  });
});
