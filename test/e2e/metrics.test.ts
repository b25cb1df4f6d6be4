import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

/** The value of a sample line `name{labels} value` in a Prometheus text exposition. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((pair) => l.includes(pair)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('Prometheus metrics of a running backfill', () => {
  it('`sluice run --metrics-port 0` serves /metrics during the run: items by outcome, batch durations up to 600 s, state, backlog, throttle, process metrics', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, iterable, PermanentError } from '${SLUICE}';
export default [defineBackfill<{ n: number }>({
  name: 'observed',
  source: iterable({ from: (c) => Array.from({ length: 200000 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n, count: () => 200000 }),
  key: (i) => i.n,
  batchSize: 100,
  maxFailureRatio: 1,
  retry: { attempts: 1 },
  // Seed 000's SLOs (the demo's): the project's own, since the demo's backfill stays out of a project.
  slo: { objectives: [
    { name: 'batch-duration', description: 'p95 batch duration under 300 s', sli: { kind: 'batch-duration', thresholdSeconds: 300 }, objective: 0.95 },
    { name: 'errors', description: 'at most 1 % of items quarantined', sli: { kind: 'error-ratio' }, objective: 0.99 },
  ] },
  async process(batch) {
    if (batch.some((i) => i.n === 150)) throw new PermanentError('item 150 is broken');
    await new Promise((resolve) => setTimeout(resolve, 10));
  },
})];
`,
      );
      const run = startCli(['run', 'observed', '--metrics-port', '0', '--db', join(dir, 'store.db')], { cwd: dir });
      const done = collect(run);
      const url = String((JSON.parse(await waitForLine(run, /"event":"metrics"/)) as { url: string }).url);
      const scrape = async () => (await fetch(url)).text();
      const text = await waitFor(
        async () => {
          const body = await scrape();
          // Batch metrics come with every batch, the backlog with the progress tick (each second).
          return (sample(body, 'sluice_items_total', 'outcome="processed"') ?? 0) >= 500 &&
            sample(body, 'sluice_backlog_items', 'backfill="observed"') !== undefined &&
            sample(body, 'sluice_slo_burn_rate', 'window="long"') !== undefined
            ? body
            : undefined;
        },
        'processed items, the backlog and the first SLO evaluation in /metrics',
        30_000,
        100,
      );
      assert.equal(sample(text, 'sluice_items_total', 'backfill="observed",outcome="quarantined"'), 1);
      assert.ok((sample(text, 'sluice_items_total', 'outcome="processed"') ?? 0) >= 500);
      assert.match(text, /sluice_batch_duration_seconds_bucket\{le="300",backfill="observed"\} \d+/);
      assert.match(text, /sluice_batch_duration_seconds_bucket\{le="600",backfill="observed"\} \d+/);
      assert.equal(sample(text, 'sluice_run_state', 'state="running"'), 1);
      assert.equal(sample(text, 'sluice_run_state', 'state="paused"'), 0);
      assert.ok((sample(text, 'sluice_backlog_items', 'backfill="observed"') ?? -1) > 0, 'the backlog is known from the plan');
      assert.equal(sample(text, 'sluice_throttle_state', 'state="running",source="none"'), 1);
      assert.match(text, /sluice_batch_size_items_bucket\{le="100",backfill="observed"\} \d+/);
      assert.match(text, /^process_resident_memory_bytes \d+/m, 'default process metrics too');
      // Bounded label sets: only these label names on Sluice's own metrics, and no run ids.
      const labelNames = new Set(
        text
          .split('\n')
          .filter((l) => l.startsWith('sluice_'))
          .flatMap((l) => [...l.matchAll(/([a-z_]+)="/g)].map((m) => m[1]!)),
      );
      assert.deepEqual([...labelNames].sort(), ['backfill', 'le', 'outcome', 'severity', 'slo', 'source', 'state', 'tier', 'window']);
      // The backfill defines seed 000's SLOs: the in-process evaluator publishes its burn rates and alert states.
      assert.ok(sample(text, 'sluice_slo_burn_rate', 'slo="batch-duration",tier="fast-burn",window="long"') !== undefined);
      assert.equal(sample(text, 'sluice_slo_alert_firing', 'slo="errors",tier="fast-burn",severity="page"'), 0);
      assert.doesNotMatch(text, /r_0[0-9a-z]{10,}/, 'no run ids');
      assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
      const cancel = await runCli(
        ['cancel', (JSON.parse(await waitForLine(run, /"event":"progress"/)) as { runId: string }).runId, '--db', join(dir, 'store.db')],
        { cwd: dir },
      );
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.equal((await done).code, 4);
    } finally {
      await cleanup();
    }
  });

  it('a bad --metrics-port is refused before anything runs', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const result = await runCli(['demo', '--metrics-port', '70000', '--db', join(dir, 'x.db')], { cwd: dir });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--metrics-port must be a port number from 0 \(any free port\) to 65535, got "70000"/);
    } finally {
      await cleanup();
    }
  });
});
