import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cursor } from '../../src/core/cursor.js';
import { READ_AHEAD_STALE_MS, ReadAhead } from '../../src/core/read-ahead.js';
import type { PartitionSpec, SourceBatch, SourceReader } from '../../src/core/source.js';

/** Numbers 1..total read in key order, answering reads only when told to (`release`). */
function numbers(total: number, options: { spare?: () => boolean; failing?: boolean } = {}) {
  const reads: Array<{ cursor: Cursor; limit: number; upper: Cursor }> = [];
  const held: Array<() => void> = [];
  const reader: SourceReader<number> = {
    plan: async () => [{ lower: null, upper: null }],
    mayReadAhead: options.spare,
    read: async ({ partition, cursor, limit }): Promise<SourceBatch<number>> => {
      reads.push({ cursor, limit, upper: partition.upper });
      await new Promise<void>((resolve) => held.push(resolve));
      if (options.failing) throw new Error('connection reset');
      const from = cursor === null ? 0 : (cursor as number[])[0]!;
      const end = Math.min(total, from + limit, partition.upper === null ? total : (partition.upper as number[])[0]! - 1);
      const items = Array.from({ length: Math.max(0, end - from) }, (_, i) => from + i + 1);
      return { items, malformed: [], cursor: items.length ? [items[items.length - 1]!] : cursor, done: items.length < limit };
    },
    close: async () => {},
  };
  return { reader, reads, release: () => held.splice(0).forEach((go) => go()) };
}

const whole: PartitionSpec = { lower: null, upper: null };

describe('ReadAhead', () => {
  it('hands over the batch read ahead when the lane goes on from where it was read, to the same end, at the same size', async () => {
    const { reader, reads, release } = numbers(10, { spare: () => true });
    const ahead = new ReadAhead(reader, {});
    const from: Cursor = [3];
    ahead.start(whole, from, 4);
    assert.equal(reads.length, 1, 'the read starts at once, before anyone asks for it');
    release();
    const batch = await ahead.take(whole, from, 4, 0);
    assert.deepEqual(batch?.items, [4, 5, 6, 7]);
    assert.equal(await ahead.take(whole, from, 4, 0), undefined, 'a batch read ahead is handed over once');
    await ahead.settle();
  });

  for (const [what, take] of [
    ['another cursor (the checkpoint was reloaded)', (a: ReadAhead) => a.take(whole, [3], 4, 0)],
    ['another size (a retune, a canary’s last batch)', (a: ReadAhead, from: Cursor) => a.take(whole, from, 2, 0)],
    ['another partition end (a split moved it)', (a: ReadAhead, from: Cursor) => a.take({ lower: null, upper: [6] }, from, 4, 0)],
    [
      'a lane that waited between batches (a throttle, a pace)',
      (a: ReadAhead, from: Cursor) => a.take(whole, from, 4, READ_AHEAD_STALE_MS + 1),
    ],
  ] as const) {
    it(`reads afresh after ${what}`, async () => {
      const { reader, release } = numbers(10, { spare: () => true });
      const ahead = new ReadAhead(reader, {});
      const from: Cursor = [3];
      ahead.start(whole, from, 4);
      release();
      assert.equal(await take(ahead, from), undefined);
      await ahead.settle();
    });
  }

  it('reads nothing ahead when the source has no connection to spare, or cannot say', async () => {
    for (const spare of [() => false, undefined]) {
      const { reader, reads } = numbers(10, { spare });
      const ahead = new ReadAhead(reader, {});
      ahead.start(whole, [3], 4);
      assert.equal(reads.length, 0);
      assert.equal(await ahead.take(whole, [3], 4, 0), undefined);
    }
  });

  it('forgets a read ahead that failed (the lane reads again, with its own retries), and settles only when reads in flight end', async () => {
    const { reader, release } = numbers(10, { spare: () => true, failing: true });
    const ahead = new ReadAhead(reader, {});
    const from: Cursor = [3];
    ahead.start(whole, from, 4);
    let settled = false;
    const settling = ahead.settle().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'settle waits for the read in flight');
    release();
    await settling;
    assert.equal(await ahead.take(whole, from, 4, 0), undefined);
  });

  it('hands over undefined, not an error, when the read ahead it would take failed', async () => {
    const { reader, release } = numbers(10, { spare: () => true, failing: true });
    const ahead = new ReadAhead(reader, {});
    const from: Cursor = [3];
    ahead.start(whole, from, 4);
    release();
    assert.equal(await ahead.take(whole, from, 4, 0), undefined);
  });
});
