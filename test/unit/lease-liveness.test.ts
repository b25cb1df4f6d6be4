import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasLiveLease, isClaimable, remainingRange, stalledOf } from '../../src/core/lease-liveness.js';
import type { PartitionRecord, RunRecord } from '../../src/core/run.js';

const T0 = Date.parse('2026-12-06T06:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const nobodyDead = () => false;

function partition(index: number, over: Partial<PartitionRecord> = {}): PartitionRecord {
  return {
    runId: 'r_1',
    index,
    lower: null,
    upper: null,
    label: null,
    child: null,
    cursor: null,
    state: 'pending',
    fence: 0,
    leaseOwner: null,
    leaseExpiresAt: null,
    heartbeatAt: null,
    splitFrom: null,
    counts: { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 },
    batches: 0,
    error: null,
    updatedAt: at(0),
    ...over,
  };
}

/** A partition a worker leased for 30 s at `heartbeatMs`. */
function leased(index: number, owner: string, heartbeatMs: number, over: Partial<PartitionRecord> = {}): PartitionRecord {
  return partition(index, {
    state: 'running',
    fence: 1,
    leaseOwner: owner,
    heartbeatAt: at(heartbeatMs),
    leaseExpiresAt: at(heartbeatMs + 30_000),
    updatedAt: at(heartbeatMs),
    ...over,
  });
}

const run = { id: 'r_1', state: 'running', createdAt: at(-5000), startedAt: at(-1000) } as RunRecord;

describe("lease liveness, judged on the store's clock", () => {
  it('a lease is live until it expires, or until its owner is known dead', () => {
    const p = leased(0, 'a', 0);
    assert.equal(hasLiveLease(p, T0 + 29_999, nobodyDead), true);
    assert.equal(hasLiveLease(p, T0 + 30_000, nobodyDead), false, 'expired at its expiry');
    assert.equal(
      hasLiveLease(p, T0 + 1000, (owner) => owner === 'a'),
      false,
      'its owner is gone',
    );
    assert.equal(hasLiveLease(partition(1), T0, nobodyDead), false, 'pending: no lease');
    assert.equal(isClaimable(p, T0 + 30_000), false, 'the stores take a lease over strictly after its expiry');
    assert.equal(isClaimable(p, T0 + 30_001), true);
    assert.equal(isClaimable(partition(1), T0), true);
    assert.equal(isClaimable(partition(2, { state: 'done' }), T0), false);
  });

  it('a running run with a live lease is not stalled; with none, it is, since its last sign of life', () => {
    const partitions = [
      leased(0, 'a', 1000),
      leased(1, 'b', 4000),
      partition(2, { state: 'done', updatedAt: at(2000), heartbeatAt: at(2000) }),
    ];
    assert.equal(stalledOf(run, partitions, T0 + 10_000, nobodyDead), null, 'both leases live');
    assert.equal(stalledOf({ ...run, state: 'paused' }, partitions, T0 + 60_000, nobodyDead), null, 'only a running run stalls');
    // Both leases ran out: stalled since the last sign of life (a heartbeat); the last lease expired 30 s later.
    assert.deepEqual(stalledOf(run, partitions, T0 + 40_000, nobodyDead), {
      since: at(4000),
      lastHeartbeatAt: at(4000),
      leasesExpiredAt: at(34_000),
    });
    // Both owners known dead before their leases ran out: stalled at once, and no lease has expired yet.
    assert.deepEqual(
      stalledOf(run, partitions, T0 + 5000, () => true),
      { since: at(4000), lastHeartbeatAt: at(4000), leasesExpiredAt: null },
    );
    // expireLeases moved a dead owner's expiry to the epoch: that is no moment a lease ran out.
    const expiredEarly = [leased(0, 'a', 1000, { leaseExpiresAt: new Date(0).toISOString() })];
    assert.deepEqual(stalledOf(run, expiredEarly, T0 + 5000, nobodyDead), {
      since: at(1000),
      lastHeartbeatAt: at(1000),
      leasesExpiredAt: null,
    });
  });

  it('a run whose partitions were handed back, or never claimed, is stalled since they were last touched or it started', () => {
    const handedBack = [partition(0, { fence: 1, heartbeatAt: at(3000), updatedAt: at(6000) }), partition(1)];
    assert.deepEqual(stalledOf(run, handedBack, T0 + 60_000, nobodyDead), {
      since: at(6000),
      lastHeartbeatAt: at(3000),
      leasesExpiredAt: null,
    });
    assert.deepEqual(stalledOf(run, [partition(0, { updatedAt: at(-5000) })], T0, nobodyDead), {
      since: at(-1000),
      lastHeartbeatAt: null,
      leasesExpiredAt: null,
    });
  });

  it('a partition owns from its checkpoint (or start) to its end: a split parent up to the split, its child the rest', () => {
    const parent = leased(0, 'a', 0, { lower: null, upper: [50], cursor: [10] });
    const child = partition(2, { lower: [50], upper: [100], splitFrom: 0 });
    assert.deepEqual(remainingRange(parent), { from: [10], to: [50] });
    assert.deepEqual(remainingRange(child), { from: [50], to: [100] });
    assert.deepEqual(remainingRange({ ...parent, cursor: null }), { from: null, to: [50] });
    assert.equal(remainingRange(partition(3, { state: 'done', cursor: [7] })), null);
  });
});
