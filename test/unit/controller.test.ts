import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveController } from '../../src/core/throttle/controller.js';

describe('adaptive controller', () => {
  it('moves towards the target from the first batch, growing at most ×1.5 a step', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 1 }, { targetBatchMs: 1000 });
    // 1 ms per item: the ideal is 1,000 items; the first step may only reach 150.
    assert.match(c.observeBatch(100, 100)!.reason, /^batch 100 → 150: 1\.000 ms per item, target 1000 ms per batch \(grew ×1\.5, the most per step\)$/);
    const sizes = [c.batchSize];
    for (let i = 0; i < 8; i++) {
      c.observeBatch(c.batchSize, c.batchSize * 1);
      sizes.push(c.batchSize);
    }
    assert.deepEqual(sizes.slice(0, 6), [150, 225, 337, 505, 757, 1000]);
    assert.equal(c.batchSize, 1000, 'converges on target / time per item');
  });

  it('shrinks straight to the ideal when batches are too slow', () => {
    const c = new AdaptiveController({ batchSize: 1000, concurrency: 1 }, { targetBatchMs: 1000 });
    c.observeBatch(1000, 4000); // 4 ms per item → 250
    assert.equal(c.batchSize, 250);
  });

  it('does not collapse when batch time stops scaling with size: a fixed 800 ms per batch grows to the maximum', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 1 }, { targetBatchMs: 1000, maxBatchSize: 5000 });
    const sizes = [c.batchSize];
    for (let i = 0; i < 60; i++) {
      c.observeBatch(c.batchSize, 800);
      sizes.push(c.batchSize);
    }
    assert.ok(sizes.every((size, i) => i === 0 || size >= sizes[i - 1]!), `never shrinks: ${sizes.join(',')}`);
    assert.equal(c.batchSize, 5000);
  });

  it('halves at once after a batch slower than 5× the target, and forgets the old average', () => {
    const c = new AdaptiveController({ batchSize: 1000, concurrency: 1 }, { targetBatchMs: 100 });
    c.observeBatch(1000, 100); // on target
    assert.equal(c.batchSize, 1000);
    assert.match(c.observeBatch(1000, 600)!.reason, /^batch 1,000 → 500: batch of 1000 took 600 ms > 5× the 100 ms target: halved$/);
    c.observeBatch(500, 300); // 0.6 ms per item now: the average restarted from the slow batch
    assert.equal(c.batchSize, 167);
  });

  it('a slow signal halves once per observed batch, however many lanes read it', () => {
    const c = new AdaptiveController({ batchSize: 800, concurrency: 4 }, {});
    assert.equal(c.observeSlow('db busy')!.batchSize, 400);
    assert.equal(c.observeSlow('db busy'), undefined);
    c.observeBatch(400, 400); // 1 ms per item: towards 1,000, at most ×1.5 → 600
    assert.equal(c.batchSize, 600);
    assert.equal(c.observeSlow('db busy')!.batchSize, 300, 'a new batch observed: the next slow reading halves again');
  });

  it('AIMD on the probe: halves lanes when p95 is over budget, adds one when within', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 8 }, { probeWindow: 4 });
    for (let i = 0; i < 3; i++) assert.equal(c.observeProbe(50, 20), undefined, 'waits for a window of readings');
    assert.match(c.observeProbe(50, 20)!.reason, /^foreground p95 50 ms > budget 20 ms: lanes 8 → 4$/);
    for (let i = 0; i < 4; i++) c.observeProbe(50, 20);
    assert.equal(c.concurrency, 2);
    for (let i = 0; i < 8; i++) c.observeProbe(5, 20);
    assert.equal(c.concurrency, 4, 'one more lane per window of readings within budget');
    for (let i = 0; i < 40; i++) c.observeProbe(5, 20);
    assert.equal(c.concurrency, 8, 'never above the configured concurrency');
  });

  it('refuses settings outside the spec with a clear message', () => {
    assert.throws(() => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { maxGrowth: 2 }), /maxGrowth must be between 1\.2 and 1\.5, got 2/);
    assert.throws(() => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { targetBatchMs: 0 }), /targetBatchMs must be a positive number/);
    assert.throws(() => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { minBatchSize: 10, maxBatchSize: 5 }), /1 ≤ minBatchSize ≤ maxBatchSize, got 10\.\.5/);
  });
});
