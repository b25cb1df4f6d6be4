import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveController } from '../../src/core/throttle/controller.js';

describe('adaptive controller', () => {
  it('moves towards the target from the first batch, growing at most ×1.5 a step', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 1 }, { targetBatchMs: 1000 });
    // 1 ms per item: the ideal is 1,000 items; the first step may only reach 150.
    assert.match(
      c.observeBatch(100, 100)!.reason,
      /^batch 100 → 150: 1\.000 ms per item, target 1000 ms per batch \(grew ×1\.5, the most per step\)$/,
    );
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
    assert.ok(
      sizes.every((size, i) => i === 0 || size >= sizes[i - 1]!),
      `never shrinks: ${sizes.join(',')}`,
    );
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

  it('before any probe reading: the configured lanes at full speed, no pause', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 4 }, {});
    assert.equal(c.concurrency, 4);
    assert.equal(c.share, 1);
    assert.equal(c.delayAfter(100), 0);
  });

  it('spends the foreground share as whole lanes, then a pause after each batch', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 4 }, {});
    // Starts at half speed; one reading over budget: 0.5 × 0.7 = 0.35 of 4 lanes = 1.4 lane-equivalents.
    const decision = c.observeProbe(50, 20)!;
    assert.match(
      decision.reason,
      /^foreground p95 50 ms > budget 20 ms over the last 1: share 1\.00 → 0\.35, lanes 4 → 2, each busy 70 %$/,
    );
    assert.equal(c.concurrency, 2);
    assert.ok(Math.abs(c.delayAfter(100) - 100 * (1 / 0.7 - 1)) < 1e-9, 'a lane busy 70 % of the time pauses 0.43 × its batch');
    c.observeProbe(50, 20); // 0.245 × 4 = 0.98: one lane, busy 98 %
    assert.equal(c.concurrency, 1);
    assert.ok(c.delayAfter(100) > 1 && c.delayAfter(100) < 3);
  });

  it('the first reading sets the lanes from the share alone, not down from every configured lane', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 4 }, {});
    // Within budget: 0.5 × 1.019 of 4 lanes is 2.04 lane-equivalents, two lanes at full duty (the
    // quarter-lane band against retiring a lane is for a share hovering, not for the start).
    c.observeProbe(1, 20);
    assert.equal(c.concurrency, 2);
    assert.equal(c.delayAfter(100), 0);
  });

  it('does not start and retire a lane at every reading while the share hovers at a lane boundary', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 2 }, { startShare: 0.6 });
    const lanes: number[] = [];
    // One reading over budget, then nineteen within: the share swings between 0.42 and 0.6, that
    // is 0.84 to 1.2 lanes of two. Rounding up alone would start and retire the second lane twice
    // a cycle; the quarter-lane band keeps one lane, whose pause takes up the difference.
    for (let cycle = 0; cycle < 10; cycle++) {
      c.observeProbe(50, 20);
      lanes.push(c.concurrency);
      for (let i = 0; i < 19; i++) {
        c.observeProbe(5, 20);
        lanes.push(c.concurrency);
      }
    }
    const changes = lanes.filter((l, i) => i > 0 && l !== lanes[i - 1]).length;
    assert.ok(changes === 0 && lanes[0] === 1, `lanes: ${lanes.join(',')}`);
    c.observeProbe(50, 20);
    assert.ok(c.delayAfter(100) > 0, 'at 0.84 lanes: one lane, not always busy');
  });

  it('never pauses for more than the least share allows, and climbs back when the foreground has room', () => {
    const c = new AdaptiveController({ batchSize: 100, concurrency: 4 }, { minShare: 0.02 });
    for (let i = 0; i < 100; i++) c.observeProbe(500, 20);
    assert.equal(c.share, 0.02, 'the floor holds');
    assert.equal(c.concurrency, 1);
    // 0.08 lane-equivalents: one lane, busy 8 %: a pause of 11.5 batches, never longer.
    assert.ok(Math.abs(c.delayAfter(100) - 100 * (1 / 0.08 - 1)) < 1e-6);
    let readings = 0;
    while (c.share < 1 && readings < 1000) {
      c.observeProbe(5, 20);
      readings++;
    }
    assert.equal(c.concurrency, 4);
    assert.equal(c.delayAfter(100), 0, 'back at full speed');
    assert.ok(readings < 250, `recovered from the floor in ${readings} readings (about 25 s at 10 readings a second)`);
  });

  it("below full duty, aims at shorter batches (the duty's part of the target, no shorter than minBatchMs) and resizes at once", () => {
    const c = new AdaptiveController({ batchSize: 1000, concurrency: 1 }, { targetBatchMs: 100, minBatchMs: 5 });
    c.observeBatch(1000, 100); // 0.1 ms per item: 1,000 items fill the 100 ms target
    assert.equal(c.aimedBatchMs, 100);
    // One reading over budget: share 0.35 of one lane. The batch aimed at is 35 ms, resized now,
    // and the pause after it 65 ms: the same share as a 100 ms batch and a 186 ms pause, in
    // shorter bursts.
    const decision = c.observeProbe(50, 20)!;
    assert.match(decision.reason, /share 1\.00 → 0\.35, lanes 1, each busy 35 %/);
    assert.equal(c.aimedBatchMs, 35);
    assert.equal(c.batchSize, 350);
    assert.ok(Math.abs(c.delayAfter(35) - 65) < 1e-9);
    // At the floor of the share (0.02), batches stop shrinking at 5 ms and only the pause grows.
    for (let i = 0; i < 100; i++) c.observeProbe(50, 20);
    assert.equal(c.aimedBatchMs, 5);
    assert.equal(c.batchSize, 50);
    assert.ok(Math.abs(c.delayAfter(5) - 5 * (1 / 0.02 - 1)) < 1e-9);
    // Room again: the batches grow back, at most ×1.5 a step.
    for (let i = 0; i < 300; i++) c.observeProbe(1, 20);
    assert.equal(c.aimedBatchMs, 100);
    c.observeBatch(c.batchSize, c.batchSize * 0.1);
    assert.equal(c.batchSize, 1000);
  });

  it('refuses settings outside the spec with a clear message', () => {
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { maxGrowth: 2 }),
      /maxGrowth must be between 1\.2 and 1\.5, got 2/,
    );
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { targetBatchMs: 0 }),
      /targetBatchMs must be a positive number/,
    );
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { minBatchMs: 0 }),
      /minBatchMs must be a positive number of ms, got 0/,
    );
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { minBatchSize: 10, maxBatchSize: 5 }),
      /1 ≤ minBatchSize ≤ maxBatchSize, got 10\.\.5/,
    );
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { budgetDecrease: 0.1 }),
      /budgetDecrease must be between 0\.3 and 0\.9, got 0\.1/,
    );
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { minShare: 0 }),
      /minShare must be above 0 and at most 1, got 0/,
    );
    assert.throws(
      () => new AdaptiveController({ batchSize: 1, concurrency: 1 }, { minShare: 0.5, startShare: 0.2 }),
      /startShare must be between minShare \(0\.5\) and 1, got 0\.2/,
    );
  });
});
