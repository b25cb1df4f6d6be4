import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GradualRollout } from '../../src/core/throttle/gradual.js';

const ok = { signal: 'ok' as const, signalReason: '', pageAlert: undefined };

/** Feeds one step of `batches` batches of 100 items with `bad` quarantined in total. */
function step(rollout: GradualRollout, batches: number, bad = 0): boolean {
  let done = false;
  for (let i = 0; i < batches; i++) done = rollout.observe(100, i === 0 ? bad : 0);
  return done;
}

describe('gradual rollout', () => {
  it('starts at one lane and adds one per healthy step up to the maximum', () => {
    const rollout = new GradualRollout(3, 5);
    assert.equal(rollout.concurrency, 1);
    assert.equal(step(rollout, 4), false, 'a step is 5 batches');
    assert.equal(step(rollout, 1), true);
    assert.deepEqual(rollout.step(ok), {
      concurrency: 2,
      change: 'raised',
      reason: 'raised to 2 lane(s): failures 0.0 % < 1.0 %, signals ok, no fast burn',
    });
    step(rollout, 5);
    assert.equal(rollout.step(ok).concurrency, 3);
    step(rollout, 5);
    const top = rollout.step(ok);
    assert.deepEqual([top.concurrency, top.change], [3, 'held']);
    assert.match(top.reason, /^at the full 3 lane\(s\)/);
  });

  it('steps back when a gate breaks: failures, a signal, a fast burn; never below one lane', () => {
    const rollout = new GradualRollout(4, 2, 0.01);
    step(rollout, 2);
    rollout.step(ok);
    step(rollout, 2);
    assert.equal(rollout.step(ok).concurrency, 3);
    step(rollout, 2, 5); // 5 of 200 = 2.5 %
    assert.deepEqual(rollout.step(ok), { concurrency: 2, change: 'lowered', reason: 'stepped back to 2 lane(s): failures 2.5 % ≥ 1.0 %' });
    step(rollout, 2);
    assert.match(
      rollout.step({ signal: 'slow', signalReason: 'db connections 83 % ≥ 80 %', pageAlert: undefined }).reason,
      /^stepped back to 1 lane\(s\): signal slow: db connections 83 % ≥ 80 %$/,
    );
    step(rollout, 2);
    const held = rollout.step({ ...ok, pageAlert: 'latency/fast-burn: burning 20×' });
    assert.deepEqual(
      [held.concurrency, held.change, held.reason],
      [1, 'held', 'held at 1 lane: fast SLO burn: latency/fast-burn: burning 20×'],
    );
  });

  it('follows a retune of the ceiling', () => {
    const rollout = new GradualRollout(4, 1);
    for (let i = 0; i < 3; i++) {
      step(rollout, 1);
      rollout.step(ok);
    }
    assert.equal(rollout.concurrency, 4);
    rollout.setMax(2);
    assert.equal(rollout.concurrency, 2, 'a retune down applies at once');
  });
});
