import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isolateFailures } from '../../src/core/isolate-failures.js';

describe('isolateFailures', () => {
  const failOn = (bad: Set<number>) => {
    const calls: number[][] = [];
    const attempt = async (subset: readonly number[]) => {
      calls.push([...subset]);
      const hit = subset.find((n) => bad.has(n));
      return hit === undefined ? undefined : new Error(`bad ${hit}`);
    };
    return { attempt, calls };
  };

  it('keeps every good item and isolates exactly the bad ones', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const bad = new Set([3, 500, 999]);
    const { attempt, calls } = failOn(bad);
    const result = await isolateFailures(items, attempt);
    assert.deepEqual(
      result.failed.map((f) => f.item).sort((a, b) => a - b),
      [3, 500, 999],
    );
    assert.equal(result.succeeded.length, 997);
    assert.deepEqual(new Set(result.succeeded).size, 997);
    assert.ok(result.succeeded.every((n) => !bad.has(n)));
    // O(k log n): far fewer calls than one per item.
    assert.ok(calls.length < 80, `took ${calls.length} calls`);
  });

  it('does not call the whole batch again when its failure is already known', async () => {
    const { attempt, calls } = failOn(new Set([1]));
    await isolateFailures([0, 1, 2, 3], attempt, new Error('known'));
    assert.ok(calls.every((c) => c.length < 4));
  });

  it('returns the error each failing item failed with', async () => {
    const { attempt } = failOn(new Set([7]));
    const result = await isolateFailures([5, 6, 7], attempt);
    assert.equal(result.failed.length, 1);
    assert.match(String((result.failed[0]!.error as Error).message), /bad 7/);
  });

  it('handles an empty batch without calling anything', async () => {
    const { attempt, calls } = failOn(new Set());
    const result = await isolateFailures([], attempt);
    assert.deepEqual(result, { succeeded: [], failed: [] });
    assert.equal(calls.length, 0);
  });
});
