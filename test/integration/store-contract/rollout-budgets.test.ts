import assert from 'node:assert/strict';
import { LeaseLostError } from '../../../src/core/errors.js';
import { batch, newRun, options, storeContract, withCode, zero } from './fixtures.js';

/** The RolloutBudgets port: a canary's items and a gradual rollout's lanes, shared by every worker of a run. */
storeContract('Rollout budgets', (withStore) => {
  withStore("a canary's budget is claimed per batch, and what a batch does not use comes back with its checkpoint", async (store) => {
    const run = await store.createRun(newRun({ rollout: { canaryItems: 250, gradual: null } }));
    assert.deepEqual(run.canary, { items: 250, left: 250 });
    assert.equal(run.options.maxItems, 250, 'the options mirror the canary for every worker');
    const a = (await store.claimPartition(run.id, 'w1', 60_000))!;
    const b = (await store.claimPartition(run.id, 'w2', 60_000))!;
    assert.deepEqual(await store.claimCanaryItems(a, 100), { granted: 100, inFlight: 0 });
    assert.deepEqual(await store.claimCanaryItems(b, 100), { granted: 100, inFlight: 100 });
    // A's batch read 70 items, of which the ledger skipped 10: it used 60, and 40 come back.
    await store.transaction((tx) =>
      tx.checkpoint(batch(a, { cursor: [70], delta: { ...zero, received: 70, processed: 60, skipped: 10 }, canaryUsed: 60 })),
    );
    assert.deepEqual((await store.getRun(run.id))!.canary, { items: 250, left: 90 });
    // B's batch failed before it committed: its claim returns first when it claims again.
    assert.deepEqual(await store.claimCanaryItems(b, 100), { granted: 100, inFlight: 0 });
    assert.deepEqual(await store.claimCanaryItems(a, 100), { granted: 90, inFlight: 100 }, 'the last batch is short');
    assert.deepEqual(await store.claimCanaryItems(b, 100), { granted: 100, inFlight: 90 });
    // A checkpoint the fence refuses settles nothing.
    await assert.rejects(
      store.transaction((tx) => tx.checkpoint(batch({ ...a, fence: a.fence + 1 }, { cursor: [160], canaryUsed: 0 }))),
      LeaseLostError,
    );
    assert.deepEqual((await store.getRun(run.id))!.canary, { items: 250, left: 0 });
    await store.transaction((tx) =>
      tx.checkpoint(batch(a, { previousCursor: [70], cursor: [160], delta: { ...zero, received: 90, processed: 90 }, canaryUsed: 90 })),
    );
    await store.transaction((tx) =>
      tx.checkpoint(
        batch(b, { cursor: [200], delta: { ...zero, received: 100, processed: 98, quarantined: 2, failed: 2 }, canaryUsed: 100 }),
      ),
    );
    assert.deepEqual(await store.claimCanaryItems(a, 100), { granted: 0, inFlight: 0 }, 'spent: nothing in flight can come back');
    const after = (await store.getRun(run.id))!;
    assert.equal(after.counts.processed + after.counts.quarantined, 250, 'exactly the canary went to process');
    // Claims are fenced too.
    await assert.rejects(store.claimCanaryItems({ ...b, fence: b.fence + 1 }, 10), LeaseLostError);
  });

  withStore('simultaneous claims on a canary never grant more than its budget', async (store) => {
    const run = await store.createRun(
      newRun({
        rollout: { canaryItems: 1000, gradual: null },
        partitions: Array.from({ length: 8 }, (_, i) => ({ lower: [i], upper: [i + 1] })),
      }),
    );
    const leases = await Promise.all(Array.from({ length: 8 }, (_, i) => store.claimPartition(run.id, `w${i}`, 60_000)));
    const claims = await Promise.all(leases.map((lease) => store.claimCanaryItems(lease!, 300)));
    assert.equal(
      claims.reduce((sum, c) => sum + c.granted, 0),
      1000,
    );
    assert.ok(claims.every((c) => c.granted <= 300));
    assert.deepEqual((await store.getRun(run.id))!.canary, { items: 1000, left: 0 });
  });

  withStore('a claim on a canary held by an expired lease comes back, and that lease is revoked', async (store) => {
    const run = await store.createRun(newRun({ rollout: { canaryItems: 150, gradual: null } }));
    const live = (await store.claimPartition(run.id, 'w2', 60_000))!;
    const dead = (await store.claimPartition(run.id, 'crashed', -1))!;
    assert.equal(dead.index, 1);
    assert.deepEqual(await store.claimCanaryItems(dead, 100), { granted: 100, inFlight: 0 });
    assert.deepEqual(await store.claimCanaryItems(live, 150), { granted: 150, inFlight: 0 }, "the expired lease's 100 came back");
    const [, p1] = await store.listPartitions(run.id);
    assert.deepEqual([p1!.state, p1!.fence, p1!.leaseOwner], ['pending', dead.fence + 1, null]);
    await assert.rejects(
      store.transaction((tx) => tx.checkpoint(batch(dead, { cursor: [50], canaryUsed: 50 }))),
      LeaseLostError,
      'its holder, waking, cannot commit',
    );
  });

  withStore('setRollout sets, replaces or lifts a canary and a ramp, and drops claims outstanding', async (store) => {
    const run = await store.createRun(newRun({ rollout: { canaryItems: 100, gradual: null } }));
    const a = (await store.claimPartition(run.id, 'w1', 60_000))!;
    await store.claimCanaryItems(a, 100);
    const again = await store.setRollout(run.id, { canaryItems: 40, gradual: { stepBatches: 5 } });
    assert.deepEqual(
      [again.canary, again.rampLanes, again.options.maxItems, again.options.gradual],
      [{ items: 40, left: 40 }, 1, 40, { stepBatches: 5 }],
    );
    assert.deepEqual(
      await store.claimCanaryItems(a, 100),
      { granted: 40, inFlight: 0 },
      'the old claim did not come back into the new budget',
    );
    const lifted = await store.setRollout(run.id, { canaryItems: null, gradual: null });
    assert.deepEqual([lifted.canary, lifted.rampLanes, lifted.options], [null, null, options]);
    assert.deepEqual(await store.claimCanaryItems(a, 100), { granted: 100, inFlight: 0 }, 'no canary: every batch gets what it asks');
    await assert.rejects(store.setRollout('r_missing', { canaryItems: 1, gradual: null }), withCode('NOT_FOUND'));
  });

  withStore(
    "a gradual rollout's ramp caps the run's live leases over every worker, and moves by compare-and-set with its decision",
    async (store) => {
      const run = await store.createRun(
        newRun({
          rollout: { canaryItems: null, gradual: {} },
          partitions: Array.from({ length: 4 }, (_, i) => ({ lower: [i], upper: [i + 1] })),
        }),
      );
      assert.equal(run.rampLanes, 1);
      const noLimits = { keys: [] };
      assert.equal((await store.claimPartitionWithin(run.id, 'w1', 60_000, noLimits)).kind, 'claimed');
      assert.deepEqual(await store.claimPartitionWithin(run.id, 'w2', 60_000, noLimits), {
        kind: 'blocked',
        reason: 'gradual rollout: the run holds 1 lane, all its ramp allows for now (1)',
      });
      const decision = { worker: 'w1', kind: 'gradual', reason: 'raised to 2 lane(s)', settings: { batchSize: 100 } };
      assert.equal(await store.moveRamp(run.id, { from: 1, to: 2, decision }), true);
      assert.equal(
        await store.moveRamp(run.id, { from: 1, to: 3, decision: { ...decision, reason: 'raised to 3 lane(s)' } }),
        false,
        'another worker stepped first',
      );
      assert.equal((await store.getRun(run.id))!.rampLanes, 2);
      assert.deepEqual(
        (await store.listDecisions(run.id)).map((d) => [d.worker, d.kind, d.reason]),
        [['w1', 'gradual', 'raised to 2 lane(s)']],
      );
      const expiring = await store.claimPartitionWithin(run.id, 'w2', -1, noLimits);
      assert.equal(expiring.kind, 'claimed');
      const third = await store.claimPartitionWithin(run.id, 'w3', 60_000, noLimits);
      assert.equal(third.kind, 'claimed', 'a claim at a full ramp takes over an expired lease');
      // The expired lease's lane changes hands; no new partition opens beside it, because its
      // holder may only be late, and a late renewal must not put the run over its ramp.
      assert.equal(
        third.kind === 'claimed' && expiring.kind === 'claimed' && third.lease.index,
        expiring.kind === 'claimed' && expiring.lease.index,
      );
      assert.equal(
        expiring.kind === 'claimed' && (await store.renewLease(expiring.lease, 60_000)),
        false,
        'the late holder was fenced off',
      );
      assert.equal((await store.listPartitions(run.id)).filter((p) => p.state === 'running').length, 2);
      // Every worker learns the step at its next checkpoint.
      assert.equal(
        third.kind === 'claimed' && (await store.transaction((tx) => tx.checkpoint(batch(third.lease, { cursor: [2] })))).rampLanes,
        2,
      );
      assert.equal((await store.claimPartitionWithin(run.id, 'w4', 60_000, noLimits)).kind, 'blocked');
    },
  );

  withStore('an expired lease still holds its lane of the ramp until a claim takes it over', async (store) => {
    const run = await store.createRun(
      newRun({
        rollout: { canaryItems: null, gradual: {} },
        partitions: Array.from({ length: 3 }, (_, i) => ({ lower: [i], upper: [i + 1] })),
      }),
    );
    const noLimits = { keys: [] };
    const late = await store.claimPartitionWithin(run.id, 'slow', -1, noLimits);
    assert.ok(late.kind === 'claimed');
    // Another worker asks while the lease is expired, then its holder, only late, renews it:
    // the run must still hold one lane, as its ramp allows.
    const other = await store.claimPartitionWithin(run.id, 'other', 60_000, noLimits);
    await store.renewLease(late.lease, 60_000);
    assert.deepEqual(
      (await store.listPartitions(run.id)).map((p) => [p.state, p.leaseOwner]),
      [
        ['running', 'other'],
        ['pending', null],
        ['pending', null],
      ],
    );
    assert.ok(other.kind === 'claimed' && other.lease.index === late.lease.index);
    assert.deepEqual(await store.claimPartitionWithin(run.id, 'third', 60_000, noLimits), {
      kind: 'blocked',
      reason: 'gradual rollout: the run holds 1 lane, all its ramp allows for now (1)',
    });
  });

  withStore('simultaneous claims never take more lanes than the ramp allows', async (store) => {
    const run = await store.createRun(
      newRun({
        rollout: { canaryItems: null, gradual: {} },
        partitions: Array.from({ length: 6 }, (_, i) => ({ lower: [i], upper: [i + 1] })),
      }),
    );
    await store.moveRamp(run.id, {
      from: 1,
      to: 2,
      decision: { worker: 'w', kind: 'gradual', reason: 'raised to 2 lane(s)', settings: {} },
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => store.claimPartitionWithin(run.id, `w${i}`, 60_000, { keys: [] })),
    );
    assert.equal(results.filter((r) => r.kind === 'claimed').length, 2);
    assert.equal(results.filter((r) => r.kind === 'blocked').length, 4);
  });
});
