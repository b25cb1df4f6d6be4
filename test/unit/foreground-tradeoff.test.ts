import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Contender, type ContenderResult, judge } from '../../bench/foreground-tradeoff-report.js';

const result = (group: Contender['group'], setting: string, p95: number, itemsPerSecond: number, factor?: number): ContenderResult => ({
  contender: { group, setting, ...(factor === undefined ? {} : { factor }), variant: { name: setting, batchSize: 1, concurrency: 1 } },
  p95,
  phaseP95s: [p95],
  itemsPerSecond,
});

// Idle p95 10 ms: the budget of 1.5× is 15 ms.
const fixed = [
  result('seed 002', 'delay 0', 30, 20_000),
  result('seed 002', 'delay 100', 14, 6_000),
  result('seed 002', 'delay 400', 11, 2_000),
  result('pt-osc', 'chunk 100', 16, 18_000),
  result('pt-osc', 'chunk 10', 13, 8_000),
];

describe('foreground trade-off verdicts', () => {
  it('tunes each fixed throttle to its fastest setting within the budget and compares Sluice with the best of them', () => {
    const verdict = judge([result('sluice', 'budget 1.5', 14.5, 17_000, 1.5), ...fixed], 10, 1.5)!;
    assert.equal(verdict.limitMs, 15);
    assert.equal(verdict.tuned['seed 002']?.contender.setting, 'delay 100', 'delay 0 is faster but over the budget');
    assert.equal(verdict.tuned['pt-osc']?.contender.setting, 'chunk 10', 'chunk 100 is over the budget by 1 ms');
    assert.equal(verdict.best?.contender.setting, 'chunk 10');
    assert.equal(verdict.ratio, 17_000 / 8_000);
    assert.equal(verdict.sluiceWithin, true);
    assert.equal(verdict.met, true);
  });

  it('is not met when Sluice is under 2× the best fixed throttle', () => {
    const verdict = judge([result('sluice', 'budget 1.5', 12, 15_000, 1.5), ...fixed], 10, 1.5)!;
    assert.equal(verdict.ratio, 15_000 / 8_000);
    assert.equal(verdict.met, false);
  });

  it("is not met when Sluice's own p95 is over the budget, however fast it is, and compares it at its own p95 too", () => {
    const verdict = judge([result('sluice', 'budget 1.5', 16.5, 50_000, 1.5), ...fixed], 10, 1.5)!;
    assert.equal(verdict.sluiceWithin, false);
    assert.equal(verdict.met, false);
    assert.equal(verdict.ratioAtSluiceP95, 50_000 / 18_000, 'at 16.5 ms the pt-osc chunk of 100 ms qualifies');
  });

  it('counts a budget no fixed setting meets as a win when Sluice meets it', () => {
    const verdict = judge([result('sluice', 'budget 1.2', 11.5, 3_000, 1.2), result('pt-osc', 'chunk 10', 13, 8_000)], 10, 1.2)!;
    assert.equal(verdict.best, undefined);
    assert.equal(verdict.ratio, Infinity);
    assert.equal(verdict.met, true);
  });

  it('is not met by a Sluice that did nothing, even when no fixed setting met the budget', () => {
    const verdict = judge([result('sluice', 'budget 1.2', 11.5, 0, 1.2), result('pt-osc', 'chunk 10', 13, 8_000)], 10, 1.2)!;
    assert.equal(verdict.ratio, 0);
    assert.equal(verdict.met, false);
  });

  it('has no verdict for a budget Sluice was not measured at', () => {
    assert.equal(judge(fixed, 10, 2), undefined);
  });
});
