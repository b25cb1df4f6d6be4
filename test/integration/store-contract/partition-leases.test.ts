import assert from 'node:assert/strict';
import { LeaseLostError } from '../../../src/core/errors.js';
import { batch, leaseLeft, newRun, storeContract } from './fixtures.js';

/** The PartitionLeases port: claims (within concurrency limits), heartbeats, fenced releases, splits and expiring dead workers' leases. */
storeContract('Partition leases', (withStore) => {
  withStore('claims partitions in order under leases with growing fences', async (store) => {
    const run = await store.createRun(newRun());
    const first = await store.claimPartition(run.id, 'w1', 60_000);
    const second = await store.claimPartition(run.id, 'w2', 60_000);
    assert.deepEqual([first?.runId, first?.index, first?.fence, first?.owner], [run.id, 0, 1, 'w1']);
    assert.deepEqual([second?.index, second?.fence, second?.owner], [1, 1, 'w2']);
    assert.equal(await store.claimPartition(run.id, 'w3', 60_000), undefined, 'no partition is leased twice');
    const partitions = await store.listPartitions(run.id);
    assert.deepEqual(
      partitions.map((p) => [p.state, p.fence, p.leaseOwner]),
      [
        ['running', 1, 'w1'],
        ['running', 1, 'w2'],
      ],
    );
    // On the store's clock (PostgreSQL's, not this process's, which may be hours off it).
    assert.equal(partitions[0]!.leaseExpiresAt, first!.expiresAt);
    assert.equal(leaseLeft(partitions[0]!), 60_000, 'the lease runs until now + leaseMs');
    assert.ok(partitions[0]!.leaseExpiresAt);
    assert.equal(await store.renewLease(first!, 60_000), true);
    assert.equal(await store.claimPartition('r_missing', 'w', 60_000), undefined);
    // Given back as pending, a partition is claimed again with a higher fence.
    assert.equal(await store.releasePartition(second!, 'pending'), true);
    const again = await store.claimPartition(run.id, 'w3', 60_000);
    assert.deepEqual([again?.index, again?.fence, again?.owner], [1, 2, 'w3']);
    assert.equal(await store.renewLease(second!, 60_000), false, 'the released lease is stale');
  });

  withStore('an orphans-only claim takes a partition under an expired lease, never a pending one', async (store) => {
    const run = await store.createRun(newRun({ partitions: Array.from({ length: 3 }, (_, i) => ({ lower: [i], upper: [i + 1] })) }));
    const live = (await store.claimPartition(run.id, 'alive', 60_000))!;
    await store.claimPartition(run.id, 'dead', -1);
    const adopted = await store.claimPartition(run.id, 'w', 60_000, { orphansOnly: true });
    assert.deepEqual([adopted?.index, adopted?.fence, adopted?.owner], [1, 2, 'w']);
    assert.equal(
      await store.claimPartition(run.id, 'w', 60_000, { orphansOnly: true }),
      undefined,
      'partition 0 is held, partition 2 is pending',
    );
    assert.deepEqual(await store.claimPartitionWithin(run.id, 'w', 60_000, { keys: [] }, { orphansOnly: true }), { kind: 'none' });
    await store.releasePartition(live, 'pending');
    assert.equal(
      await store.claimPartition(run.id, 'w', 60_000, { orphansOnly: true }),
      undefined,
      'a partition handed back is pending, not orphaned',
    );
    assert.equal((await store.claimPartition(run.id, 'w', 60_000))?.index, 0, 'an ordinary claim takes pending partitions');
  });

  withStore("claims, renewals and checkpoints are heartbeats, stamped by the store's clock like the lease", async (store) => {
    const run = await store.createRun(newRun());
    assert.deepEqual(
      (await store.listPartitions(run.id)).map((p) => p.heartbeatAt),
      [null, null],
      'never claimed: no heartbeat',
    );
    const before = await store.clockNow();
    const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
    const heartbeat = async () => Date.parse((await store.listPartitions(run.id))[0]!.heartbeatAt!);
    const claimed = await heartbeat();
    assert.ok(claimed >= before && claimed <= (await store.clockNow()), "the claim is a heartbeat, on the store's clock");
    assert.equal(Date.parse(lease.expiresAt) - claimed, 60_000, 'the lease runs from the heartbeat');
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(await store.renewLease(lease, 30_000), true);
    const renewed = await heartbeat();
    assert.ok(renewed > claimed, 'a renewal is a heartbeat');
    assert.equal(Date.parse((await store.listPartitions(run.id))[0]!.leaseExpiresAt!) - renewed, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.transaction((tx) => tx.checkpoint(batch(lease, { cursor: [1] })));
    assert.ok((await heartbeat()) > renewed, 'a checkpoint is a heartbeat');
    assert.equal((await store.listPartitions(run.id))[1]!.heartbeatAt, null);
  });

  withStore('concurrent claims never return the same partition', async (store) => {
    const run = await store.createRun(newRun({ partitions: Array.from({ length: 5 }, (_, i) => ({ lower: [i], upper: [i + 1] })) }));
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => store.claimPartition(run.id, `w${i}`, 60_000)));
    const granted = claims.filter((c) => c !== undefined);
    assert.equal(granted.length, 5);
    assert.deepEqual(granted.map((c) => c.index).sort(), [0, 1, 2, 3, 4]);
    assert.ok(granted.every((c) => c.fence === 1));
    assert.deepEqual(
      (await store.listPartitions(run.id)).map((p) => p.state),
      ['running', 'running', 'running', 'running', 'running'],
    );
  });

  withStore('an expired lease is reclaimed with a higher fence, and its old holder is fenced out', async (store) => {
    const run = await store.createRun(newRun());
    const old = (await store.claimPartition(run.id, 'w1', -1))!;
    const again = await store.claimPartition(run.id, 'w2', 60_000);
    assert.deepEqual([again?.index, again?.fence, again?.owner], [0, 2, 'w2']);
    assert.equal(await store.renewLease(old, 60_000), false, 'stale fence cannot renew');
    assert.equal(await store.releasePartition(old, 'done'), false, 'stale fence cannot release');
    await assert.rejects(
      store.transaction((tx) => tx.checkpoint(batch(old, { cursor: [1] }))),
      LeaseLostError,
    );
    const [p] = await store.listPartitions(run.id);
    assert.deepEqual([p!.state, p!.fence, p!.leaseOwner, p!.cursor], ['running', 2, 'w2', null]);
  });

  withStore('releases are fenced: done, failed with its error, pending', async (store) => {
    const run = await store.createRun(
      newRun({
        partitions: [
          { lower: null, upper: [1] },
          { lower: [1], upper: [2] },
          { lower: [2], upper: null },
        ],
      }),
    );
    const [a, b, c] = [
      (await store.claimPartition(run.id, 'w', 60_000))!,
      (await store.claimPartition(run.id, 'w', 60_000))!,
      (await store.claimPartition(run.id, 'w', 60_000))!,
    ];
    assert.equal(await store.releasePartition(a, 'done'), true);
    assert.equal(await store.releasePartition(b, 'failed', 'boom'), true);
    assert.equal(await store.releasePartition(c, 'pending'), true);
    const partitions = await store.listPartitions(run.id);
    assert.deepEqual(
      partitions.map((p) => [p.state, p.error, p.leaseOwner, p.leaseExpiresAt]),
      [
        ['done', null, null, null],
        ['failed', 'boom', null, null],
        ['pending', null, null, null],
      ],
    );
    assert.equal(await store.releasePartition({ ...a, fence: a.fence + 1 }, 'failed', 'x'), false, 'a fence from the future is stale too');
  });

  withStore('resetFailedPartitions reopens failed partitions only', async (store) => {
    const run = await store.createRun(
      newRun({
        partitions: [
          { lower: null, upper: [1] },
          { lower: [1], upper: [2] },
          { lower: [2], upper: null },
        ],
      }),
    );
    const a = (await store.claimPartition(run.id, 'w', 60_000))!;
    const b = (await store.claimPartition(run.id, 'w', 60_000))!;
    const c = (await store.claimPartition(run.id, 'w', 60_000))!;
    await store.releasePartition(a, 'failed', 'boom');
    await store.releasePartition(b, 'done');
    await store.releasePartition(c, 'failed', 'bang');
    assert.equal(await store.resetFailedPartitions(run.id), 2);
    assert.deepEqual(
      (await store.listPartitions(run.id)).map((p) => [p.state, p.error]),
      [
        ['pending', null],
        ['done', null],
        ['pending', null],
      ],
    );
    assert.equal(await store.resetFailedPartitions(run.id), 0);
    const next = await store.claimPartition(run.id, 'w2', 60_000);
    assert.deepEqual([next?.index, next?.fence], [0, 2]);
  });

  withStore('expireLeases expires the leases of dead owners only', async (store) => {
    const run = await store.createRun(newRun({ partitions: Array.from({ length: 4 }, (_, i) => ({ lower: [i], upper: [i + 1] })) }));
    const other = await store.createRun(newRun());
    await store.claimPartition(run.id, 'dead', 60_000);
    await store.claimPartition(run.id, 'alive', 60_000);
    const finished = (await store.claimPartition(run.id, 'dead', 60_000))!;
    await store.releasePartition(finished, 'done');
    await store.claimPartition(other.id, 'dead', 60_000);
    const asked: string[] = [];
    assert.equal(await store.expireLeases((owner) => (asked.push(owner), owner === 'dead')), 2, 'the running partitions of both runs');
    assert.deepEqual(asked.sort(), ['alive', 'dead'], 'each owner is asked about');
    assert.equal(await store.expireLeases(() => false), 0);
    const reclaimed = [await store.claimPartition(run.id, 'w', 60_000), await store.claimPartition(run.id, 'w', 60_000)];
    assert.deepEqual(
      reclaimed.map((l) => [l?.index, l?.fence]),
      [
        [0, 2],
        [3, 1],
      ],
      "the dead owner's partition first, the live one's is left alone",
    );
    assert.deepEqual((await store.claimPartition(other.id, 'w', 60_000))?.fence, 2);
  });

  withStore('splits a partition only while its holder has not moved on', async (store) => {
    const run = await store.createRun(newRun());
    const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
    const write = (from: number | null, cursor: number) =>
      store.transaction((tx) => tx.checkpoint(batch(lease, { previousCursor: from === null ? null : [from], cursor: [cursor] })));
    await write(null, 10);
    const created = await store.splitPartition(run.id, 0, { batches: 1, upper: [100] }, [50], 'id 50..100');
    assert.equal(await store.splitPartition(run.id, 0, { batches: 1, upper: [100] }, [50], null), undefined, 'split once, not twice');
    assert.equal(created, 2);
    const partitions = await store.listPartitions(run.id);
    assert.deepEqual(
      partitions.map((p) => [p.index, p.lower, p.upper, p.label, p.state, p.splitFrom]),
      [
        [0, null, [50], 'id < 100', 'running', null],
        [1, [100], null, 'id ≥ 100', 'pending', null],
        [2, [50], [100], 'id 50..100', 'pending', 0],
      ],
    );
    // The holder learns its new end at its next checkpoint.
    const seen = await store.transaction((tx) => tx.checkpoint(batch(lease, { previousCursor: [10], cursor: [20] })));
    assert.deepEqual(seen.upper, [50]);
    assert.equal(seen.runState, 'pending');
    // Two more batches since the observation: refused.
    await write(20, 30);
    assert.equal(await store.splitPartition(run.id, 0, { batches: 1, upper: [50] }, [40], null), undefined);
    await store.releasePartition(lease, 'done');
    assert.equal(
      await store.splitPartition(run.id, 0, { batches: 3, upper: [50] }, [45], null),
      undefined,
      'a done partition is not split',
    );
  });

  withStore('claimPartitionWithin counts live leases per key value and per backfill', async (store) => {
    const parts = (n: number) => Array.from({ length: n }, (_, i) => ({ lower: [i], upper: [i + 1] }));
    const a = await store.createRun(newRun({ keys: { orgId: 'acme' }, partitions: parts(3) }));
    const b = await store.createRun(newRun({ keys: { orgId: 'acme' }, partitions: parts(3) }));
    const c = await store.createRun(newRun({ keys: { orgId: 'zeta' }, partitions: parts(3) }));
    const org = (value: string) => ({ keys: [{ name: 'orgId', value, partitions: 2 }] });
    const first = await store.claimPartitionWithin(a.id, 'w1', 60_000, org('acme'));
    const second = await store.claimPartitionWithin(b.id, 'w2', 60_000, org('acme'));
    assert.deepEqual([first.kind, second.kind], ['claimed', 'claimed']);
    const third = await store.claimPartitionWithin(a.id, 'w3', 60_000, org('acme'));
    assert.deepEqual(third, { kind: 'blocked', reason: 'orgId=acme has 2 running partitions (at most 2)' });
    assert.equal(
      (await store.claimPartitionWithin(c.id, 'w3', 60_000, org('zeta'))).kind,
      'claimed',
      'other key values have their own slots',
    );
    // A finished partition frees its slot; so does an expired lease.
    assert.ok(first.kind === 'claimed' && (await store.releasePartition(first.lease, 'done')));
    const fourth = await store.claimPartitionWithin(a.id, 'w3', -1, org('acme'));
    assert.equal(fourth.kind, 'claimed');
    assert.equal(
      (await store.claimPartitionWithin(a.id, 'w4', 60_000, org('acme'))).kind,
      'claimed',
      'the expired lease does not hold a slot',
    );
    // The backfill-wide limit counts every run of the backfill: 3 live leases now (b, c, a).
    assert.deepEqual(await store.claimPartitionWithin(c.id, 'w5', 60_000, { keys: [], backfillPartitions: 3 }), {
      kind: 'blocked',
      reason: 'backfill contract has 3 running partitions (at most 3)',
    });
    assert.equal((await store.claimPartitionWithin(c.id, 'w5', 60_000, { keys: [], backfillPartitions: 4 })).kind, 'claimed');
    const done = await store.createRun(newRun({ keys: { orgId: 'none' }, partitions: parts(1) }));
    const only = await store.claimPartitionWithin(done.id, 'w', 60_000, org('none'));
    assert.ok(only.kind === 'claimed' && (await store.releasePartition(only.lease, 'done')));
    assert.deepEqual(await store.claimPartitionWithin(done.id, 'w', 60_000, org('none')), { kind: 'none' });
  });

  withStore('claimPartitionWithin never lets simultaneous claims past the limit', async (store) => {
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        store.createRun(
          newRun({ keys: { orgId: 'acme' }, partitions: Array.from({ length: 3 }, (_, i) => ({ lower: [i], upper: [i + 1] })) }),
        ),
      ),
    );
    const limits = { keys: [{ name: 'orgId', value: 'acme', partitions: 5 }] };
    const results = await Promise.all(runs.flatMap((r) => [0, 1, 2].map((i) => store.claimPartitionWithin(r.id, `w${i}`, 60_000, limits))));
    assert.equal(results.filter((r) => r.kind === 'claimed').length, 5);
    assert.equal(results.filter((r) => r.kind === 'blocked').length, 7);
  });

  withStore('keeps the fan-out child of partitions, and a split keeps it', async (store) => {
    const run = await store.createRun(
      newRun({
        partitions: [
          { lower: null, upper: null, label: 'entityType=issues', child: 'issues' },
          { lower: null, upper: null, label: 'entityType=pulls', child: 'pulls' },
        ],
      }),
    );
    const partitions = await store.listPartitions(run.id);
    assert.deepEqual(
      partitions.map((p) => [p.child, p.label]),
      [
        ['issues', 'entityType=issues'],
        ['pulls', 'entityType=pulls'],
      ],
    );
    const created = await store.splitPartition(run.id, 1, { batches: 0, upper: null }, [500], 'pulls, second half');
    assert.equal(created, 2);
    const after = await store.listPartitions(run.id);
    assert.deepEqual(
      after.map((p) => [p.index, p.child, p.lower, p.upper]),
      [
        [0, 'issues', null, null],
        [1, 'pulls', null, [500]],
        [2, 'pulls', [500], null],
      ],
    );
    const plain = await store.createRun(newRun());
    assert.deepEqual(
      (await store.listPartitions(plain.id)).map((p) => p.child),
      [null, null],
    );
  });
});
