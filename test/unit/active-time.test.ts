import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activeMs, perSecond } from '../../src/core/active-time.js';
import type { TransitionRecord } from '../../src/core/run.js';
import type { RunState } from '../../src/core/run-state.js';

const log = (...steps: Array<[RunState, string]>): TransitionRecord[] =>
  steps.map(([to, at], i) => ({
    runId: 'r_1',
    from: i === 0 ? null : steps[i - 1]![0],
    to,
    actor: 't',
    reason: 't',
    at: `2026-12-06T${at}Z`,
  }));

describe("a run's active time", () => {
  it('sums its periods in state running; pending and paused time do not count', () => {
    const transitions = log(
      ['pending', '10:00:00'],
      ['running', '10:01:00'],
      ['paused', '10:03:00'],
      ['running', '11:00:00'],
      ['succeeded', '11:00:30'],
    );
    assert.equal(activeMs(transitions, Date.parse('2026-12-06T12:00:00Z')), 150_000);
  });

  it("counts a run still running up to now, and a retried run's second life", () => {
    const running = log(['pending', '10:00:00'], ['running', '10:00:10']);
    assert.equal(activeMs(running, Date.parse('2026-12-06T10:00:25Z')), 15_000);
    const retried = log(
      ['pending', '10:00:00'],
      ['running', '10:00:00'],
      ['failed', '10:00:05'],
      ['pending', '10:30:00'],
      ['running', '10:31:00'],
      ['succeeded', '10:31:02'],
    );
    assert.equal(activeMs(retried, Date.parse('2026-12-06T12:00:00Z')), 7_000);
  });

  it('is 0 for a run that never ran, and a rate over no time is null', () => {
    assert.equal(activeMs(log(['pending', '10:00:00'], ['cancelled', '10:05:00']), Date.parse('2026-12-06T12:00:00Z')), 0);
    assert.equal(perSecond(100, 0), null);
    assert.equal(perSecond(100, null), null);
    assert.equal(perSecond(3000, 1500), 2000);
  });
});
