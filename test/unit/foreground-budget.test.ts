import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ForegroundBudget } from '../../src/core/throttle/foreground-budget.js';

/** A deterministic pseudo-random sequence (mulberry32), so the closed-loop tests are repeatable. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A foreground whose latency is over budget with a probability that grows with the backfill's
 * share: `base` when the backfill is idle, `base + slope` at full speed.
 */
function closedLoop(budget: ForegroundBudget, base: number, slope: number, readings: number, seed = 1) {
  const random = seeded(seed);
  const shares: number[] = [];
  let over = 0;
  for (let i = 0; i < readings; i++) {
    const isOver = random() < base + slope * budget.share;
    if (isOver) over++;
    budget.observe(isOver ? 30 : 10, 20);
    shares.push(budget.share);
  }
  return { shares, overRatio: over / readings };
}

describe('foreground budget (the share of full speed steered on the probe)', () => {
  it('one reading over budget and nineteen within balance out: the loop aims at 5 % over, a p95', () => {
    const b = new ForegroundBudget({ startShare: 0.5 });
    b.observe(30, 20);
    assert.ok(Math.abs(b.share - 0.35) < 1e-12, 'over budget: × 0.7 at once');
    for (let i = 0; i < 19; i++) b.observe(10, 20);
    assert.ok(Math.abs(b.share - 0.5) < 1e-9, `back where it was: ${b.share}`);
    const p99 = new ForegroundBudget({ startShare: 0.5, budgetPercentile: 99 });
    p99.observe(30, 20);
    for (let i = 0; i < 99; i++) p99.observe(10, 20);
    assert.ok(Math.abs(p99.share - 0.5) < 1e-9, 'a p99 budget balances one reading over against 99 within');
  });

  it('reacts within a few readings when the foreground suffers', () => {
    const b = new ForegroundBudget({ startShare: 1 });
    for (let i = 0; i < 5; i++) b.observe(100, 20);
    assert.ok(b.share < 0.17, `five readings over budget: ${b.share.toFixed(3)}`);
  });

  it('settles where 5 % of readings are over budget, without wild swings or a collapse', () => {
    // Over budget 1 % of the time alone, 21 % at full speed: 5 % at a share of 0.2.
    const { shares, overRatio } = closedLoop(new ForegroundBudget({ startShare: 1 }), 0.01, 0.2, 20_000);
    const settled = shares.slice(2000);
    const mean = settled.reduce((a, b) => a + b, 0) / settled.length;
    assert.ok(mean > 0.14 && mean < 0.27, `mean share ${mean.toFixed(3)} near the 0.2 that gives 5 % over budget`);
    assert.ok(overRatio > 0.04 && overRatio < 0.06, `${(overRatio * 100).toFixed(1)} % of readings over budget`);
    const sorted = [...settled].sort((a, b) => a - b);
    const p5 = sorted[Math.floor(sorted.length * 0.05)]!;
    const p95 = sorted[Math.floor(sorted.length * 0.95)]!;
    // Each reading over budget takes 30 % off at once (quick to react), so the share wanders; it
    // stays within a factor of 6 (p5 to p95) and around the equilibrium, not swinging end to end.
    assert.ok(p95 / p5 < 6 && p5 > 0.05 && p95 < 0.6, `the share stays within a band: p5 ${p5.toFixed(3)}, p95 ${p95.toFixed(3)}`);
    assert.ok(Math.min(...settled) >= 0.02, 'never under the floor');
  });

  it('goes to full speed when the foreground has room, and to the floor (not zero) when it never has', () => {
    const roomy = closedLoop(new ForegroundBudget({ startShare: 0.1 }), 0.01, 0.02, 2000);
    const late = roomy.shares.slice(-500);
    const lateMean = late.reduce((a, b) => a + b, 0) / late.length;
    assert.ok(
      lateMean > 0.8,
      `3 % over budget at full speed: the share climbs to about 1 (mean of the last 500 readings ${lateMean.toFixed(2)})`,
    );
    const hopeless = closedLoop(new ForegroundBudget({ startShare: 1, minShare: 0.05 }), 0.3, 0, 2000);
    assert.equal(
      Math.min(...hopeless.shares),
      0.05,
      'a foreground over budget 30 % of the time with no backfill at all: the floor, never zero',
    );
  });
});
