import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cursor } from '../../src/core/cursor.js';
import { SourceError } from '../../src/core/errors.js';
import type { SourceReader } from '../../src/core/source.js';
import { iterable, IterableReadError } from '../../src/sources/iterable.js';

const whole = { lower: null, upper: null };

/** Numbers 0..size-1 after `cursor`, recording every iterator opened and closed. */
function counting(size: number) {
  const log = { opened: [] as Cursor[], closed: 0 };
  const source = iterable<number>({
    from: (cursor) => {
      log.opened.push(cursor);
      return (async function* () {
        try {
          for (let n = cursor === null ? 0 : Number(cursor) + 1; n < size; n++) yield n;
        } finally {
          log.closed += 1;
        }
      })();
    },
    cursorOf: (n) => n,
    description: 'numbers',
  });
  return { source, log };
}

async function drain(reader: SourceReader<number>, cursor: Cursor, limit: number) {
  const items: number[] = [];
  for (;;) {
    const batch = await reader.read({ partition: whole, cursor, limit, filter: {} });
    items.push(...batch.items);
    cursor = batch.cursor;
    if (batch.done) return { items, cursor };
  }
}

describe('iterable', () => {
  it('is one partition, keeps one iterator across reads and reports done exactly at the end', async () => {
    const { source, log } = counting(10);
    assert.equal(source.kind, 'iterable');
    assert.equal(source.description, 'numbers');
    assert.equal(source.defaultKey, undefined);
    const reader = await source.open({});
    assert.deepEqual(await reader.plan({ partitions: 8, filter: {} }), [{ lower: null, upper: null, label: 'all items' }]);
    const a = await reader.read({ partition: whole, cursor: null, limit: 5, filter: {} });
    const b = await reader.read({ partition: whole, cursor: a.cursor, limit: 5, filter: {} });
    // The second batch fills the limit and the iterable has nothing after it: done without another read.
    assert.deepEqual([a.items, a.cursor, a.done, b.items, b.cursor, b.done], [[0, 1, 2, 3, 4], 4, false, [5, 6, 7, 8, 9], 9, true]);
    assert.deepEqual(log.opened, [null]);
    const after = await reader.read({ partition: whole, cursor: b.cursor, limit: 5, filter: {} });
    assert.deepEqual([after.items, after.cursor, after.done], [[], 9, true]);
    assert.equal(reader.count, undefined, 'no count without a count function');
    await reader.close();
  });

  it('restarts from the cursor asked for when it is not where the open iterator stands', async () => {
    const { source, log } = counting(10);
    const reader = await source.open({});
    const a = await reader.read({ partition: whole, cursor: null, limit: 4, filter: {} });
    assert.deepEqual(a.items, [0, 1, 2, 3]);
    // Back to an older checkpoint (the batch after it was never committed): reopened there.
    const b = await reader.read({ partition: whole, cursor: 1, limit: 3, filter: {} });
    assert.deepEqual(b.items, [2, 3, 4]);
    assert.deepEqual(log.opened, [null, 1]);
    assert.equal(log.closed, 1, 'the old iterator was closed');
    // null is "from the start", not "where you are".
    const c = await reader.read({ partition: whole, cursor: null, limit: 2, filter: {} });
    assert.deepEqual(c.items, [0, 1]);
    assert.deepEqual(log.opened, [null, 1, null]);
    // Continuing from the cursor it returned uses the same iterator (and the item it read ahead).
    const rest = await drain(reader, c.cursor, 3);
    assert.deepEqual(rest.items, [2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(log.opened, [null, 1, null]);
    await reader.close();
    assert.equal(log.closed, 3);
  });

  it('compares structured cursors by value', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => ({ page: Math.floor(i / 3), index: i % 3, id: i }));
    const opened: Cursor[] = [];
    const reader = await iterable<(typeof rows)[number]>({
      from: (cursor) => {
        opened.push(cursor);
        const after =
          cursor === null
            ? -1
            : rows.findIndex((r) => r.page === (cursor as { page: number }).page && r.index === (cursor as { index: number }).index);
        return rows.slice(after + 1);
      },
      cursorOf: (row) => ({ page: row.page, index: row.index }),
    }).open({});
    let cursor: Cursor = null;
    const ids: number[] = [];
    for (;;) {
      const batch = await reader.read({ partition: whole, cursor: JSON.parse(JSON.stringify(cursor)) as Cursor, limit: 2, filter: {} });
      ids.push(...batch.items.map((r) => r.id));
      cursor = batch.cursor;
      if (batch.done) break;
    }
    assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(opened, [null], 'a JSON round trip of the cursor is not a restart');
  });

  it('reads plain synchronous iterables and generators', async () => {
    const reader = await iterable<string>({
      from: (cursor) => ['a', 'b', 'c'].filter((s) => cursor === null || s > String(cursor)),
      cursorOf: (s) => s,
    }).open({});
    assert.deepEqual(await drain(reader as SourceReader<never>, null, 2), { items: ['a', 'b', 'c'], cursor: 'c' });
    const empty = await iterable<number>({ from: () => [], cursorOf: (n) => n }).open({});
    assert.deepEqual(await empty.read({ partition: whole, cursor: null, limit: 10, filter: {} }), {
      items: [],
      malformed: [],
      cursor: null,
      done: true,
    });
  });

  it('surfaces errors of the iterable as retryable SourceErrors and restarts from the cursor on the next read', async () => {
    let calls = 0;
    const cause = new Error('upstream 500');
    const reader = await iterable<number>({
      from: (cursor) => {
        calls += 1;
        const start = cursor === null ? 0 : Number(cursor) + 1;
        const failing = calls === 1;
        return (function* () {
          for (let n = start; n < 6; n++) {
            if (failing && n === 2) throw cause;
            yield n;
          }
        })();
      },
      cursorOf: (n) => n,
    }).open({});
    await assert.rejects(reader.read({ partition: whole, cursor: null, limit: 5, filter: {} }), (e: unknown) => {
      assert.ok(e instanceof SourceError && e instanceof IterableReadError);
      assert.equal(e.message, 'iterable source failed: upstream 500');
      assert.equal(e.cause, cause);
      // Not `SOURCE`: the engine retries it (a broken configuration it would not).
      assert.equal(e.code, 'SOURCE_READ');
      return true;
    });
    const retry = await reader.read({ partition: whole, cursor: null, limit: 10, filter: {} });
    assert.deepEqual([retry.items, retry.done], [[0, 1, 2, 3, 4, 5], true]);
    assert.equal(calls, 2);
  });

  it('wraps errors thrown by from() itself, and keeps a SourceError the iterable raised as it is', async () => {
    let fail = true;
    const reader = await iterable<number>({
      from: () => {
        if (fail) throw new TypeError('bad token');
        return [1];
      },
      cursorOf: (n) => n,
    }).open({});
    await assert.rejects(reader.read({ partition: whole, cursor: null, limit: 5, filter: {} }), {
      name: 'IterableReadError',
      message: 'iterable source failed: bad token',
    });
    fail = false;
    assert.deepEqual((await reader.read({ partition: whole, cursor: null, limit: 5, filter: {} })).items, [1]);

    const fatal = new SourceError('the API key was revoked');
    const broken = await iterable<number>({
      from: () => ({
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            throw fatal;
          },
        }),
      }),
      cursorOf: (n) => n,
    }).open({});
    await assert.rejects(broken.read({ partition: whole, cursor: null, limit: 5, filter: {} }), (e: unknown) => e === fatal);
  });

  it('refuses a from() that returns no iterable and a cursorOf that returns no JSON value', async () => {
    const notIterable = await iterable<number>({ from: () => 42 as unknown as number[], cursorOf: (n) => n }).open({});
    await assert.rejects(notIterable.read({ partition: whole, cursor: null, limit: 5, filter: {} }), {
      code: 'SOURCE',
      message: 'iterable: from(null) returned number, not an iterable or async iterable',
    });
    const noCursor = await iterable<number>({ from: () => [1, 2], cursorOf: () => undefined as unknown as Cursor }).open({});
    await assert.rejects(noCursor.read({ partition: whole, cursor: null, limit: 5, filter: {} }), {
      code: 'SOURCE',
      message: /cursorOf\(item\) must return a JSON value/,
    });
    assert.throws(() => iterable({ from: [] as never, cursorOf: (n: number) => n }), SourceError);
  });

  it('counts through the user function, and close() returns the iterator', async () => {
    let returned = 0;
    const reader = await iterable<number>({
      from: () => ({
        [Symbol.iterator]: () => {
          let n = 0;
          return {
            next: () => ({ done: false, value: n++ }),
            return: () => {
              returned += 1;
              return { done: true, value: undefined };
            },
          };
        },
      }),
      cursorOf: (n) => n,
      count: async () => 1234,
    }).open({});
    assert.equal(await reader.count!({ partition: whole, cursor: null, filter: {} }), 1234);
    const batch = await reader.read({ partition: whole, cursor: null, limit: 3, filter: {} });
    assert.deepEqual([batch.items, batch.done], [[0, 1, 2], false]);
    await reader.close();
    assert.equal(returned, 1);
    await reader.close();
    assert.equal(returned, 1, 'closing twice returns once');
  });
});
