import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/temp.js';
import { EXAMPLE_STORES, runExample } from '../helpers/examples.js';
import { prometheusSkip } from '../helpers/prometheus.js';

for (const [store, open] of EXAMPLE_STORES) {
  describe(`examples on ${store}`, () => {
    it('firehose-replay (seed 002): the background profile under a memory limit, the progress line, re-sent events counted once', async () => {
      const { db, cleanup } = await open();
      try {
        const result = await runExample('firehose-replay', ['--db', db, '--days', '1', '--per-day', '150'], {
          BACKFILL_MAX_MEMORY_MB: '768',
        });
        assert.equal(result.code, 0, result.stderr);
        const outcome = result.lines.find((l) => l.event === 'outcome')!;
        const counts = outcome.counts as { received: number; processed: number; skipped: number };
        assert.equal(outcome.state, 'succeeded');
        assert.ok(counts.skipped > 0, 'the firehose re-sent some events');
        assert.equal(counts.received, counts.processed + counts.skipped);
        assert.equal(outcome.counted, counts.processed, 'each event counted once');
        assert.match(outcome.configured as string, /batch size 100 \(profile background/);
        assert.match(outcome.configured as string, /memory limit 768 MB \(BACKFILL_MAX_MEMORY_MB\)/);
        const progress = result.lines.filter((l) => l.event === 'progress');
        assert.ok(
          progress.length >= 1 && ['received', 'processed', 'skipped', 'rate'].every((k) => k in progress[0]!),
          'the received / processed / skipped / rate line',
        );
      } finally {
        await cleanup();
      }
    });

    it('slo-alerts (seed 003): generated rules pass promtool, the evaluator is quiet while healthy and fires fast and slow burns once degraded', async () => {
      const { db, cleanup } = await open();
      const out = await tempDir();
      try {
        const result = await runExample('slo-alerts', ['--db', db, '--out', out.dir]);
        assert.equal(result.code, 0, result.stderr);
        const generated = result.lines.find((l) => l.event === 'generated')!;
        if (!prometheusSkip()) assert.equal(generated.promtool, 'passed');
        const [healthy, degraded] = result.lines.filter((l) => l.event === 'phase') as Array<{
          alerts: Array<{ alert: string; state: string }>;
        }>;
        assert.ok(
          healthy!.alerts.every((a) => a.state === 'inactive'),
          JSON.stringify(healthy),
        );
        assert.deepEqual(
          degraded!.alerts.map((a) => [a.alert, a.state]),
          [
            ['latency/fast-burn', 'firing'],
            ['latency/slow-burn', 'firing'],
            ['errors/fast-burn', 'firing'],
            ['errors/slow-burn', 'firing'],
          ],
        );
      } finally {
        await out.cleanup();
        await cleanup();
      }
    });
  });
}
