import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iterable } from '../../src/sources/iterable.js';

describe('iterable', () => {
  const whole = { lower: null, upper: null };

  it('keeps one iterator across reads and reports done exactly at the end', async () => {
    let opened = 0;
    const reader = await iterable<number>({
      from: (cursor) => {
        opened += 1;
        return (async function* () {
          for (let n = cursor === null ? 0 : Number(cursor) + 1; n < 10; n++) yield n;
        })();
      },
      cursorOf: (n) => n,
    }).open({});
    const a = await reader.read({ partition: whole, cursor: null, limit: 5, filter: {} });
    const b = await reader.read({ partition: whole, cursor: a.cursor, limit: 5, filter: {} });
    assert.deepEqual([a.items, a.done, b.items, b.done], [[0, 1, 2, 3, 4], false, [5, 6, 7, 8, 9], true]);
    assert.equal(opened, 1);
    // A read from another cursor (a restart) reopens the iterable there.
    const c = await reader.read({ partition: whole, cursor: 2, limit: 3, filter: {} });
    assert.deepEqual(c.items, [3, 4, 5]);
    assert.equal(opened, 2);
    assert.equal(reader.count, undefined, 'no count without a count function');
    await reader.close();
  });

  it('surfaces errors of the iterable and restarts from the cursor on the next read (a retry)', async () => {
    let calls = 0;
    const reader = await iterable<number>({
      from: (cursor) => {
        calls += 1;
        const start = cursor === null ? 0 : Number(cursor) + 1;
        const failing = calls === 1;
        return (function* () {
          for (let n = start; n < 6; n++) {
            if (failing && n === 2) throw new Error('upstream 500');
            yield n;
          }
        })();
      },
      cursorOf: (n) => n,
    }).open({});
    await assert.rejects(reader.read({ partition: whole, cursor: null, limit: 5, filter: {} }), /iterable source failed: upstream 500/);
    const retry = await reader.read({ partition: whole, cursor: null, limit: 10, filter: {} });
    assert.deepEqual([retry.items, retry.done], [[0, 1, 2, 3, 4, 5], true]);
  });
});
