import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/temp.js';

describe('sluice serve', () => {
  it('serves health, readiness and /metrics from the store with the SLO evaluation, and stops on SIGTERM', async () => {
    const { dir, cleanup } = await tempDir();
    const db = join(dir, 'store.db');
    const server = { child: undefined as ReturnType<typeof startCli> | undefined };
    try {
      const demo = await runCli(['demo', '--rows', '3000', '--db', db, '--json'], { cwd: dir });
      assert.equal(demo.code, 0, demo.stderr);
      server.child = startCli(['serve', '--port', '0', '--db', db, '--json'], { cwd: dir });
      const exited = collect(server.child);
      const { url } = JSON.parse(await waitForLine(server.child, /"event":"listening"/)) as { url: string };
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

      const health = await fetch(`${url}/healthz`);
      assert.deepEqual([health.status, await health.json()], [200, { status: 'ok' }]);
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { status: string }).status, 'ready');

      const text = await waitFor(async () => {
        const body = await (await fetch(`${url}/metrics`)).text();
        return body.includes('sluice_slo_burn_rate{') ? body : undefined;
      }, 'the first SLO evaluation in /metrics');
      assert.match(text, /sluice_store_runs\{backfill="demo-email-risk-scores",state="succeeded"\} 1/);
      assert.match(text, /sluice_store_runs\{backfill="demo-email-risk-scores",state="running"\} 0/);
      assert.match(text, /sluice_store_backlog_items\{backfill="demo-email-risk-scores"\} 0/);
      assert.match(
        text,
        /sluice_slo_alert_firing\{backfill="demo-email-risk-scores",slo="batch-duration",tier="fast-burn",severity="page"\} 0/,
      );
      assert.match(text, /^process_resident_memory_bytes \d+/m);
      assert.equal((await fetch(`${url}/nothing-here`)).status, 404);

      server.child.kill('SIGTERM');
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
    } finally {
      server.child?.kill('SIGKILL');
      await cleanup();
    }
  });

  it('refuses a bad port before opening anything', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const result = await runCli(['serve', '--port', 'http', '--db', join(dir, 'x.db')], { cwd: dir });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--port must be a port number from 0 \(any free port\) to 65535, got "http"/);
    } finally {
      await cleanup();
    }
  });
});
