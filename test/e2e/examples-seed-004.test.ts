import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXAMPLE_STORES, runExample } from '../helpers/examples.js';

interface Step {
  step: string;
  state: string;
  counts: { received: number; processed: number; skipped: number; quarantined: number };
  children: Array<{ child: string; outcome: string; error: number }>;
  newDeliveries: number;
  duplicates: number;
}

for (const [store, open] of EXAMPLE_STORES) {
  describe(`provider-history example (seed 004) on ${store}`, () => {
    it('re-triggers after success, after a partial failure, deeper and ten days later with zero duplicate deliveries; deleting the connection cancels its run', async () => {
      const { db, cleanup } = await open();
      try {
        const result = await runExample('provider-history', ['--db', db]);
        assert.equal(result.code, 0, result.stderr);
        const steps = result.lines.filter((l) => l.event === 'step') as unknown as Step[];
        assert.deepEqual(
          steps.map((s) => s.step),
          [
            'first trigger',
            're-trigger after success',
            'deeper, while the gateway refuses releases',
            're-trigger after the partial failure',
            'ten days later, depth 90',
          ],
        );
        const [first, again, partial, recovered, later] = steps;
        assert.equal(first!.newDeliveries, 42, '2 items a day for 7 days, 3 entity types, at any hour');
        assert.deepEqual([again!.newDeliveries, again!.counts.skipped], [0, 42], 'the same trigger again delivers nothing');
        assert.deepEqual(
          partial!.children.map((c) => [c.child, c.outcome]),
          [
            ['pull_request', 'success'],
            ['issue', 'success'],
            ['release', 'partial'],
          ],
        );
        assert.ok(partial!.children[2]!.error > 0, 'releases failed for the gateway');
        assert.equal(recovered!.newDeliveries, partial!.children[2]!.error, 'the re-trigger delivers exactly what failed');
        assert.equal(later!.counts.skipped, recovered!.counts.received, 'ten days later the ledger still knows every earlier delivery');
        for (const step of steps) assert.equal(step.duplicates, 0, `${step.step}: no delivery id twice`);
        const deleted = result.lines.find((l) => l.event === 'deleted')!;
        assert.equal(deleted.state, 'cancelled');
        assert.equal((deleted.cancelled as string[]).length, 1);
        assert.equal(deleted.duplicates, 0);
        const provider = result.lines.find((l) => l.event === 'provider')!;
        assert.ok(
          (provider.unauthorized as number) > 0 && (provider.errors as number) > 0,
          'expired tokens and 500s happened and were ridden out',
        );
      } finally {
        await cleanup();
      }
    });
  });
}
