import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { RunReport } from '../../src/observe/report/run-report.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

describe('sluice report', () => {
  it('writes md, json and html for a finished run: parameters, actor, history, counts, percentiles, errors with samples, throttle', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      // Items 7 and 77 fail with a message that would break Markdown tables and inject HTML.
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, iterable, PermanentError } from '${SLUICE}';
export default [defineBackfill<{ n: number }>({
  name: 'audited',
  source: iterable({ from: (c) => Array.from({ length: 300 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n, count: () => 300 }),
  key: (i) => i.n,
  batchSize: 50,
  maxFailureRatio: 1,
  retry: { attempts: 1 },
  process(batch) {
    const bad = batch.find((i) => i.n === 7 || i.n === 77);
    if (bad) throw new PermanentError('bad | row <script>alert(1)</script> ' + bad.n);
  },
})];
`,
      );
      const db = join(dir, 'store.db');
      const run = await runCli(['run', 'audited', '--db', db, '--json', '--actor', 'alice', '--batch-size', '50'], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const runId = jsonLines(run.stdout).find((l) => l.event === 'summary')!.runId as string;

      const json = await runCli(['report', runId, '--format', 'json', '--db', db], { cwd: dir });
      assert.equal(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout) as RunReport;
      assert.equal(report.run.createdBy, 'alice');
      assert.equal(report.run.state, 'succeeded');
      assert.deepEqual(report.counts, { received: 300, processed: 298, skipped: 0, failed: 2, quarantined: 2 });
      assert.equal(report.parameters.options.batchSize, 50);
      assert.equal(report.batches.count, 6);
      const d = report.batches.durationMs!;
      assert.ok(d.p50 <= d.p95 && d.p95 <= d.max, 'percentiles are ordered');
      assert.deepEqual(
        report.history.map((t) => t.to),
        ['pending', 'running', 'succeeded'],
      );
      assert.equal(report.errors.length, 1);
      assert.equal(report.errors[0]!.errorClass, 'PERMANENT');
      assert.deepEqual(report.errors[0]!.samples.map((s) => s.itemKey).sort(), ['7', '77']);
      assert.deepEqual(report.quarantine, { open: 2, replayed: 0 });
      assert.ok(
        report.throttle.some((t) => t.kind === 'configured'),
        'the throttle history starts with the effective configuration',
      );
      assert.deepEqual(report.verification, []);

      const md = await runCli(['report', runId, '--db', db], { cwd: dir });
      assert.equal(md.code, 0, md.stderr);
      for (const heading of [
        '## Summary',
        '## Counts',
        '## Batch durations',
        '## State history',
        '## Errors by class',
        '## Throttle history',
        '## SLO alerts during the run',
        '## Verification',
        '## Parameters',
      ]) {
        assert.ok(md.stdout.includes(heading), `markdown has ${heading}`);
      }
      assert.match(md.stdout, /\| started by \| alice \|/);
      assert.match(md.stdout, /bad \\\| row <script>/, 'pipes in the data are escaped, not table separators');

      const out = join(dir, 'report.html');
      const html = await runCli(['report', runId, '--format', 'html', '--out', out, '--db', db], { cwd: dir });
      assert.equal(html.code, 0, html.stderr);
      const page = readFileSync(out, 'utf8');
      assert.match(page, /^<!doctype html>/);
      assert.ok(!page.includes('<script>'), 'no markup from the data gets through');
      assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
      assert.match(page, /<h2>Batch durations<\/h2>/);

      const bad = await runCli(['report', runId, '--format', 'pdf', '--db', db], { cwd: dir });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--format must be md, json or html, got "pdf"/);
      const missing = await runCli(['report', 'r_nope', '--db', db], { cwd: dir });
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /no run "r_nope"/);
    } finally {
      await cleanup();
    }
  });

  it('keeps every error class the run met: quarantined items replayed since, and retried attempts', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      // Each full batch's first attempt times out once (a transient ETIMEDOUT the retry outlives); item 30
      // fails for good until the fix (a file named "fixed") is there, and is replayed after it.
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { existsSync } from 'node:fs';
import { defineBackfill, iterable, PermanentError } from '${SLUICE}';
const timedOut = new Set<number>();
export default [defineBackfill<{ n: number }>({
  name: 'flaky',
  source: iterable({ from: (c) => Array.from({ length: 60 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n, count: () => 60 }),
  key: (i) => i.n,
  batchSize: 20,
  maxFailureRatio: 1,
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  process(batch) {
    const first = batch[0]!.n;
    if (batch.length === 20 && !timedOut.has(first)) {
      timedOut.add(first);
      throw Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' });
    }
    if (!existsSync('fixed') && batch.some((i) => i.n === 30)) throw new PermanentError('item 30 is broken');
  },
})];
`,
      );
      const db = join(dir, 'store.db');
      const run = await runCli(['run', 'flaky', '--db', db, '--json'], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const runId = jsonLines(run.stdout).find((l) => l.event === 'summary')!.runId as string;
      writeFileSync(join(dir, 'fixed'), '');
      const replay = await runCli(['quarantine', 'replay', runId, '--db', db, '--json'], { cwd: dir });
      assert.equal(replay.code, 0, replay.stderr);

      const report = JSON.parse((await runCli(['report', runId, '--format', 'json', '--db', db], { cwd: dir })).stdout) as RunReport;
      assert.deepEqual(report.quarantine, { open: 0, replayed: 1 });
      const byClass = Object.fromEntries(
        report.errors.map(({ errorClass, count, open, replayed, retried }) => [errorClass, { count, open, replayed, retried }]),
      );
      assert.deepEqual(
        byClass,
        {
          ETIMEDOUT: { count: 0, open: 0, replayed: 0, retried: 3 },
          PERMANENT: { count: 1, open: 0, replayed: 1, retried: 0 },
        },
        'each of the three batches retried a timeout once; item 30 was quarantined, then replayed',
      );
      assert.deepEqual(
        report.errors.find((e) => e.errorClass === 'PERMANENT')!.samples.map((s) => s.itemKey),
        ['30'],
      );

      const md = (await runCli(['report', runId, '--db', db], { cwd: dir })).stdout;
      assert.match(md, /\| class \| quarantined \| open \| replayed \| retried attempts \|/);
      assert.match(md, /\| ETIMEDOUT \| 0 \| 0 \| 0 \| 3 \|/);
      assert.match(md, /\| PERMANENT \| 1 \| 0 \| 1 \| 0 \| 30: item 30 is broken \|/);
    } finally {
      await cleanup();
    }
  });
});
