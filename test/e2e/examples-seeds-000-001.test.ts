import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXAMPLE_STORES, runExample } from '../helpers/examples.js';

for (const [store, open] of EXAMPLE_STORES) {
  describe(`examples on ${store}`, () => {
    it('email-risk-scores (seed 000): --since scores the recent emails, --max-batches stops early, a second run completes the coverage, none written twice', async () => {
      const { db, cleanup } = await open();
      try {
        const recent = await runExample('email-risk-scores', ['--db', db, '--rows', '3000', '--since', '7d']);
        assert.equal(recent.code, 0, recent.stderr);
        const firstCoverage = recent.lines.find((l) => l.event === 'coverage')!;
        const scored = firstCoverage.scored as number;
        assert.ok(scored >= 1007 && scored <= 1008, `one email every 10 minutes: a week is about 1,008 of them, got ${scored}`);
        const partial = await runExample('email-risk-scores', ['--db', db, '--max-batches', '2', '--batch-size', '100']);
        assert.equal(partial.code, 0, partial.stderr);
        assert.deepEqual((partial.lines.find((l) => l.event === 'outcome')!.counts as { received: number }).received, 200);
        const rest = await runExample('email-risk-scores', ['--db', db]);
        assert.equal(rest.code, 0, rest.stderr);
        assert.deepEqual(
          rest.lines.find((l) => l.event === 'coverage'),
          { event: 'coverage', scored: 3000, total: 3000, percent: 100, writtenTwice: 0 },
        );
      } finally {
        await cleanup();
      }
    });

    it('snapshot-etl (seed 001): sampled dry run, malformed payloads quarantined as PARSE_ERROR, placeholders recorded, parity and uniqueness hold', async () => {
      const { db, cleanup } = await open();
      try {
        const result = await runExample('snapshot-etl', ['--db', db, '--snapshots', '600']);
        assert.equal(result.code, 0, result.stderr);
        const sample = result.lines.find((l) => l.event === 'sample')!.buckets as Array<{ bucket: string; items: number }>;
        assert.deepEqual(
          sample.map((b) => b.bucket),
          ['small', 'medium', 'large'],
        );
        const outcome = result.lines.find((l) => l.event === 'outcome')!;
        assert.equal(outcome.state, 'succeeded');
        assert.deepEqual(outcome.counts, { received: 600, processed: 594, skipped: 0, failed: 6, quarantined: 6 });
        assert.deepEqual(
          result.lines.find((l) => l.event === 'quarantine'),
          { event: 'quarantine', entries: 6, classes: ['PARSE_ERROR'] },
        );
        assert.ok((result.lines.find((l) => l.event === 'placeholders')!.recorded as number) > 0, 'unknown catalog items got placeholders');
        const checks = result.lines.filter((l) => l.event === 'verified');
        assert.equal(checks.length, 3);
        assert.ok(
          checks.every((c) => c.passed === true),
          JSON.stringify(checks),
        );
        // A re-run normalizes nothing twice: the ledger skips what was done; only the malformed fail again.
        const again = await runExample('snapshot-etl', ['--db', db, '--snapshots', '600']);
        assert.deepEqual(again.lines.find((l) => l.event === 'outcome')!.counts, {
          received: 600,
          processed: 0,
          skipped: 594,
          failed: 6,
          quarantined: 6,
        });
      } finally {
        await cleanup();
      }
    });
  });
}
