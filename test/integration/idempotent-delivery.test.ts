import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CoalescedCheckpoint } from '../../src/core/coalesced-checkpoint.js';
import type { Counts } from '../../src/core/counts.js';
import { createSluice, defineBackfill, iterable, LeaseLostError } from '../../src/index.js';
import type { RunHandle, Store } from '../../src/index.js';
import type { CheckpointWrite, NewRun } from '../../src/core/store.js';
import type { PartitionLease } from '../../src/core/run.js';
import { openPostgresStore } from '../../src/postgres.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const ITEMS = 2000;
const BATCH = 50;
/** Checkpoints carry 8 batches: a run of 40 batches writes 5. */
const EVERY = { batches: 8, ms: 600_000 };

type Open = () => Promise<{ store: Store; cleanup(): Promise<void> }>;

const stores: Array<[string, Open]> = [
  [
    'SQLite',
    async () => {
      const { dir, cleanup } = await tempDir();
      return { store: await openSqliteStore(join(dir, 's.db')), cleanup };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const { schema, cleanup } = await testSchema('idem');
      return { store: await openPostgresStore({ connectionString: TEST_PG, schema }), cleanup };
    },
  ],
];

/** A backfill of ITEMS numbered items whose `process` counts every delivery of each; `after` runs after each batch. */
function counting(after?: (batches: number) => void, failing: ReadonlySet<number> = new Set()) {
  const seen = new Map<number, number>();
  let batches = 0;
  const definition = defineBackfill<{ n: number }>({
    name: 'idem',
    source: iterable({
      *from(cursor) {
        for (let n = (cursor as number | null) ?? 0; n < ITEMS; n++) yield { n: n + 1 };
      },
      cursorOf: (item) => item.n,
    }),
    key: (item) => item.n,
    delivery: 'idempotent',
    checkpointEvery: EVERY,
    batchSize: BATCH,
    process(items, ctx) {
      for (const item of items) {
        if (failing.has(item.n)) ctx.fail(item, new Error(`item ${item.n} is bad`));
        else seen.set(item.n, (seen.get(item.n) ?? 0) + 1);
      }
      after?.(++batches);
    },
  });
  return { definition, seen, processed: () => [...seen.values()].reduce((a, b) => a + b, 0) };
}

async function stored(store: Store, runId: string): Promise<{ cursor: unknown; processed: number; checkpoints: number }> {
  const [p] = await store.listPartitions(runId);
  return { cursor: p!.cursor, processed: p!.counts.processed, checkpoints: p!.batches };
}

const zero: Counts = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };

function newRun(id: string): NewRun {
  return {
    id,
    backfill: 'idem',
    params: {},
    createdBy: 'tester',
    reason: 'test',
    plannedItems: null,
    options: { batchSize: BATCH, concurrency: 1, maxFailureRatio: 0.01, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } },
    partitions: [{ lower: null, upper: null, label: 'all' }],
  };
}

function write(lease: PartitionLease, from: number, to: number): CheckpointWrite {
  const now = Date.now();
  return {
    lease,
    previousCursor: from,
    cursor: to,
    done: false,
    delta: { ...zero, received: to - from, processed: to - from },
    leaseMs: 60_000,
    stats: { worker: lease.owner, startedAtMs: now - 5, finishedAtMs: now },
  };
}

for (const [name, open] of stores) {
  describe(`delivery: 'idempotent' on ${name}`, () => {
    const withStore = (title: string, body: (store: Store) => Promise<void>) =>
      it(title, async () => {
        const { store, cleanup } = await open();
        try {
          await body(store);
        } finally {
          await store.close();
          await cleanup();
        }
      });

    withStore('a run processes every item and writes one checkpoint per checkpointEvery.batches batches', async (store) => {
      const { definition, seen } = counting();
      const sluice = createSluice({ store, backfills: [definition] });
      const outcome = await (await sluice.start('idem', { actor: 'test' })).done;
      assert.equal(outcome.state, 'succeeded');
      assert.equal(outcome.counts.processed, ITEMS);
      assert.equal(seen.size, ITEMS);
      assert.ok(
        [...seen.values()].every((times) => times === 1),
        'no crash, no repeat',
      );
      const p = await stored(store, outcome.runId);
      assert.deepEqual(p, { cursor: ITEMS, processed: ITEMS, checkpoints: ITEMS / BATCH / EVERY.batches });
    });

    withStore('a failing item is quarantined with the checkpoint that covers its batch', async (store) => {
      const { definition, seen } = counting(undefined, new Set([777, 1999]));
      const sluice = createSluice({ store, backfills: [definition] });
      const outcome = await (await sluice.start('idem', { actor: 'test' })).done;
      assert.equal(outcome.state, 'succeeded');
      assert.deepEqual([outcome.counts.processed, outcome.counts.quarantined], [ITEMS - 2, 2]);
      assert.equal(seen.size, ITEMS - 2);
      const quarantined = await store.listQuarantine({ runId: outcome.runId });
      assert.deepEqual(quarantined.map((q) => q.itemKey).sort(), ['1999', '777']);
      assert.deepEqual(quarantined.map((q) => q.message).sort(), ['item 1999 is bad', 'item 777 is bad']);
    });

    withStore(
      "a canary's batches write their checkpoints at once: it stops after exactly its items, and the resume repeats none",
      async (store) => {
        const { definition, seen } = counting();
        const sluice = createSluice({ store, backfills: [definition] });
        const canary = await (await sluice.start('idem', { actor: 'test', maxItems: 130 })).done;
        assert.equal(canary.state, 'paused');
        assert.equal(canary.counts.received, 130);
        assert.deepEqual(
          await stored(store, canary.runId),
          { cursor: 130, processed: 130, checkpoints: 3 },
          'one checkpoint per canary batch (50, 50, 30)',
        );
        const rest = await (await sluice.resume(canary.runId, { actor: 'test' })).done;
        assert.equal(rest.state, 'succeeded');
        assert.equal(seen.size, ITEMS);
        assert.ok(
          [...seen.values()].every((times) => times === 1),
          'no item processed twice',
        );
      },
    );

    for (const how of ['stop', 'cancel'] as const) {
      withStore(`${how} writes the waiting checkpoint before the lane lets go of its partition`, async (store) => {
        let handle: RunHandle | undefined;
        // 13 batches: 8 written with the first checkpoint, 5 waiting when the stop comes.
        const { definition, seen, processed } = counting((batches) => {
          if (batches === 13) how === 'stop' ? handle!.stop('test', 'enough') : handle!.cancel('test', 'enough');
        });
        const sluice = createSluice({ store, backfills: [definition] });
        handle = await sluice.start('idem', { actor: 'test' });
        const outcome = await handle.done;
        assert.equal(outcome.state, how === 'stop' ? 'paused' : 'cancelled');
        const done = processed();
        assert.ok(done >= 13 * BATCH, `${done} items processed`);
        const p = await stored(store, outcome.runId);
        assert.deepEqual(p, { cursor: done, processed: done, checkpoints: 2 }, 'the checkpoint covers every batch that ran');
        if (how === 'cancel') return;
        // The resume starts where the stop's checkpoint left off: nothing is repeated.
        const resumed = await (await sluice.resume(outcome.runId, { actor: 'test' })).done;
        assert.equal(resumed.state, 'succeeded');
        assert.equal(seen.size, ITEMS);
        assert.ok(
          [...seen.values()].every((times) => times === 1),
          'nothing repeated across the stop',
        );
      });
    }

    withStore(
      "a coalesced checkpoint moves the cursor over all its batches, and a stale lease's is refused by the fence",
      async (store) => {
        const run = await store.createRun(newRun(`r_idem${name.length}`));
        const first = (await store.claimPartition(run.id, 'w1', 60_000))!;
        const coalesce = new CoalescedCheckpoint(store, EVERY, null);
        coalesce.add({ ...write(first, 0, 50), previousCursor: null });
        coalesce.add(write(first, 50, 100));
        assert.equal(coalesce.pending, 2);
        assert.equal(coalesce.due(Date.now()), false);
        await coalesce.flush();
        assert.deepEqual(await stored(store, run.id), { cursor: 100, processed: 100, checkpoints: 1 });

        // w1 stalls past its lease; w2 takes the partition over with a higher fence.
        assert.equal(await store.renewLease(first, -1), true);
        const second = (await store.claimPartition(run.id, 'w2', 60_000))!;
        assert.equal(second.fence, first.fence + 1);
        coalesce.add(write(first, 100, 150));
        coalesce.add(write(first, 150, 200));
        await assert.rejects(coalesce.flush(), LeaseLostError);
        assert.deepEqual(await stored(store, run.id), { cursor: 100, processed: 100, checkpoints: 1 }, 'the zombie wrote nothing');
      },
    );
  });
}
