import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Counts } from '../../src/core/counts.js';
import { LeaseLostError } from '../../src/core/errors.js';
import type { PartitionLease, PartitionRecord, RunControl, RunOptions } from '../../src/core/run.js';
import type { AlertNotification } from '../../src/core/slo/alert-notification.js';
import type { AlertChange } from '../../src/core/slo/alert-record.js';
import type { CheckpointWrite, NewRun, Store } from '../../src/core/store.js';
import { waitFor } from '../helpers/temp.js';

const options: RunOptions = {
  batchSize: 100,
  concurrency: 2,
  maxFailureRatio: 0.01,
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
};
let sequence = 0;

function newRun(overrides: Partial<NewRun> = {}): NewRun {
  sequence += 1;
  return {
    id: `r_test${String(sequence).padStart(6, '0')}`,
    backfill: 'contract',
    params: { since: '2026-01-01T00:00:00.000Z' },
    options,
    createdBy: 'tester',
    reason: 'contract test',
    partitions: [
      { lower: null, upper: [100], label: 'id < 100' },
      { lower: [100], upper: null, label: 'id ≥ 100' },
    ],
    plannedItems: 200,
    ...overrides,
  };
}

/**
 * How long a partition's lease runs past its last update. Both times are the store's (the database
 * clock on PostgreSQL), so this holds however far the test process's clock is from the database's.
 */
function leaseLeft(partition: PartitionRecord): number {
  assert.ok(partition.leaseExpiresAt, `partition ${partition.index} holds no lease`);
  return Date.parse(partition.leaseExpiresAt) - Date.parse(partition.updatedAt);
}

const zero: Counts = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };

function control(kind: RunControl['kind'], actor = 'op'): RunControl {
  return { kind, actor, reason: `${kind} please`, requestedAt: '2026-02-03T04:05:06.000Z' };
}

/** A checkpoint write with everything but the lease defaulted. */
function batch(lease: PartitionLease, write: Partial<CheckpointWrite> = {}): CheckpointWrite {
  return { lease, previousCursor: null, cursor: null, done: false, delta: zero, leaseMs: 60_000, ...write };
}

/** A firing alert's change and the notification to record with it. */
function firing(tier: string, id: string): { change: AlertChange; notification: AlertNotification } {
  const key = { backfill: 'contract', slo: 'latency', tier };
  const change: AlertChange = {
    ...key,
    severity: 'page',
    from: 'inactive',
    to: 'firing',
    sinceMs: Date.parse('2026-03-01T00:00:00.000Z'),
    burnLong: 20,
    burnShort: 30,
    summary: 'burning 20×',
  };
  const notification: AlertNotification = {
    id,
    ...key,
    severity: 'page',
    state: 'firing',
    since: '2026-03-01T00:00:00.000Z',
    burnRate: { threshold: 14.4, long: 20, short: 30 },
    windows: { long: '1h', short: '5m' },
    summary: 'burning 20×',
    runs: ['r_1'],
    paused: [],
  };
  return { change, notification };
}

/** Matches errors by their stable code, so that a store loaded from another copy of the package still matches. */
const withCode = (code: string) => (error: unknown) => (error as { code?: unknown }).code === code;

/**
 * The behaviour every Store must have, written against the interface only, so that the same suite
 * runs against SQLite and PostgreSQL. Tables the tests need in the store's database are created
 * through `store.transaction(tx => tx.sql.execute(...))`, in SQL both dialects accept.
 */
export function storeContract(name: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>): void {
  const withStore = (title: string, body: (store: Store) => Promise<void>) =>
    it(title, async () => {
      const { store, cleanup } = await open();
      try {
        await body(store);
      } finally {
        await store.close();
        await cleanup();
      }
    });

  describe(`Store contract: ${name}`, () => {
    // ---- runs -----------------------------------------------------------------------------------

    withStore(
      'createRunOnce: one open run per backfill and parameters, whatever their key order; a success is found, not redone',
      async (store) => {
        const input = (params: Record<string, unknown>, since?: string) =>
          newRun({ params: { ...(since ? { since } : {}), extra: params } });
        const first = await store.createRunOnce(input({ tenant: 'a', depth: 7 }), { orSucceeded: true });
        assert.equal(first.created, true);
        const again = await store.createRunOnce(input({ depth: 7, tenant: 'a' }), { orSucceeded: true });
        assert.deepEqual([again.created, again.run.id], [false, first.run.id], 'the same parameters in another order find the open run');
        const other = await store.createRunOnce(input({ tenant: 'b', depth: 7 }), { orSucceeded: true });
        assert.equal(other.created, true, 'other parameters are another run');
        assert.deepEqual(
          (await store.listRuns({ backfill: 'contract', params: { depth: 7, tenant: 'a' } })).map((r) => r.id),
          [first.run.id],
        );

        // Paused is open too; a succeeded run is found only when asked for, and only without a window.
        await store.transitionRun(first.run.id, ['pending'], 'running', 'op', 'go');
        await store.transitionRun(first.run.id, ['running'], 'paused', 'op', 'wait');
        assert.equal((await store.createRunOnce(input({ tenant: 'a', depth: 7 }), { orSucceeded: false })).run.id, first.run.id);
        await store.transitionRun(first.run.id, ['paused'], 'running', 'op', 'go');
        await store.transitionRun(first.run.id, ['running'], 'succeeded', 'sluice', 'done');
        const done = await store.createRunOnce(input({ tenant: 'a', depth: 7 }), { orSucceeded: true });
        assert.deepEqual([done.created, done.run.id, done.run.state], [false, first.run.id, 'succeeded']);
        const rerun = await store.createRunOnce(input({ tenant: 'a', depth: 7 }), { orSucceeded: false });
        assert.equal(rerun.created, true, 'without orSucceeded a succeeded run does not hold a new one back');
        await store.transitionRun(rerun.run.id, ['pending'], 'cancelled', 'op', 'not now');
        const windowed = await store.createRunOnce(input({ tenant: 'b' }, '2026-01-01T00:00:00.000Z'), { orSucceeded: true });
        assert.equal(windowed.created, true);
        await store.transitionRun(windowed.run.id, ['pending'], 'running', 'op', 'go');
        await store.transitionRun(windowed.run.id, ['running'], 'succeeded', 'sluice', 'done');
        const afterWindow = await store.createRunOnce(input({ tenant: 'b' }), { orSucceeded: true });
        assert.equal(afterWindow.created, true, 'a success over a window (since) does not stand for the whole backfill');
      },
    );

    withStore('createRunOnce: concurrent starts of the same backfill and parameters make one run', async (store) => {
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.createRunOnce(newRun({ params: { extra: { shard: 1 } } }), { orSucceeded: true })),
      );
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.run.id)).size, 1);
      assert.equal((await store.listRuns({ backfill: 'contract' })).length, 1);
    });

    withStore('creates, reads and lists runs (newest first, filtered)', async (store) => {
      const a = await store.createRun(newRun());
      const b = await store.createRun(newRun({ backfill: 'other', params: {}, plannedItems: null }));
      const c = await store.createRun(newRun());
      assert.equal(a.state, 'pending');
      assert.equal(a.backfill, 'contract');
      assert.deepEqual(a.params, { since: '2026-01-01T00:00:00.000Z' });
      assert.deepEqual(a.options, options);
      assert.deepEqual(a.counts, zero);
      assert.equal(a.batches, 0);
      assert.equal(a.plannedItems, 200);
      assert.equal(b.plannedItems, null);
      assert.equal(a.createdBy, 'tester');
      assert.equal(a.reason, 'contract test');
      assert.equal(a.control, null);
      assert.deepEqual([a.startedAt, a.finishedAt], [null, null]);
      assert.ok(!Number.isNaN(Date.parse(a.createdAt)), 'createdAt is an ISO instant');
      assert.deepEqual(await store.getRun(a.id), a);
      assert.equal(await store.getRun('r_missing'), undefined);

      assert.deepEqual(
        (await store.listRuns()).map((r) => r.id),
        [c.id, b.id, a.id],
      );
      assert.deepEqual(
        (await store.listRuns({ limit: 2 })).map((r) => r.id),
        [c.id, b.id],
      );
      assert.deepEqual(
        (await store.listRuns({ backfill: 'contract' })).map((r) => r.id),
        [c.id, a.id],
      );
      assert.deepEqual(
        (await store.listRuns({ backfill: 'nothing' })).map((r) => r.id),
        [],
      );
      assert.deepEqual(
        (await store.listRuns({ states: ['running'] })).map((r) => r.id),
        [],
      );
      await store.transitionRun(a.id, ['pending'], 'running', 'tester', 'go');
      await store.transitionRun(b.id, ['pending'], 'cancelled', 'tester', 'no');
      assert.deepEqual(
        (await store.listRuns({ states: ['running'] })).map((r) => r.id),
        [a.id],
      );
      assert.deepEqual(
        (await store.listRuns({ states: ['running', 'cancelled'] })).map((r) => r.id),
        [b.id, a.id],
      );
      assert.deepEqual(
        (await store.listRuns({ backfill: 'contract', states: ['pending', 'cancelled'] })).map((r) => r.id),
        [c.id],
      );

      const partitions = await store.listPartitions(a.id);
      assert.deepEqual(
        partitions.map((p) => [
          p.runId,
          p.index,
          p.lower,
          p.upper,
          p.label,
          p.cursor,
          p.state,
          p.fence,
          p.leaseOwner,
          p.counts,
          p.batches,
          p.error,
        ]),
        [
          [a.id, 0, null, [100], 'id < 100', null, 'pending', 0, null, zero, 0, null],
          [a.id, 1, [100], null, 'id ≥ 100', null, 'pending', 0, null, zero, 0, null],
        ],
      );
      assert.deepEqual(await store.listPartitions('r_missing'), []);
    });

    withStore("a run's counts and batches are the sums over its partitions", async (store) => {
      const run = await store.createRun(
        newRun({
          partitions: [
            { lower: null, upper: [1] },
            { lower: [1], upper: [2] },
            { lower: [2], upper: null },
          ],
        }),
      );
      const first = (await store.claimPartition(run.id, 'w', 60_000))!;
      const second = (await store.claimPartition(run.id, 'w', 60_000))!;
      await store.transaction((tx) =>
        tx.checkpoint(batch(first, { cursor: [0], delta: { received: 5, processed: 3, skipped: 1, failed: 1, quarantined: 1 } })),
      );
      await store.transaction((tx) =>
        tx.checkpoint(batch(first, { previousCursor: [0], cursor: [1], delta: { ...zero, received: 2, processed: 2 } })),
      );
      await store.transaction((tx) =>
        tx.checkpoint(batch(second, { cursor: [2], delta: { received: 10, processed: 7, skipped: 3, failed: 0, quarantined: 0 } })),
      );
      const got = (await store.getRun(run.id))!;
      assert.deepEqual(got.counts, { received: 17, processed: 12, skipped: 4, failed: 1, quarantined: 1 });
      assert.equal(got.batches, 3);
      assert.deepEqual(
        (await store.listRuns()).map((r) => [r.counts.received, r.batches]),
        [[17, 3]],
      );
      assert.deepEqual(
        (await store.listPartitions(run.id)).map((p) => [p.counts.received, p.batches]),
        [
          [7, 2],
          [10, 1],
          [0, 0],
        ],
      );
    });

    // ---- transitions and control ----------------------------------------------------------------

    withStore('transitions are compare-and-set, checked against the state machine, and logged', async (store) => {
      const run = await store.createRun(newRun());
      const running = await store.transitionRun(run.id, ['pending'], 'running', 'alice', 'go');
      assert.equal(running?.state, 'running');
      assert.equal(running?.reason, 'go');
      assert.ok(running?.startedAt);
      assert.equal(running?.finishedAt, null);
      assert.equal(await store.transitionRun(run.id, ['pending'], 'running', 'bob', 'again'), undefined, 'CAS miss');
      assert.equal(
        await store.transitionRun(run.id, ['pending', 'paused'], 'cancelled', 'bob', 'again'),
        undefined,
        'CAS miss with several states',
      );
      await assert.rejects(
        store.transitionRun(run.id, ['running'], 'pending', 'bob', 'illegal'),
        (e: unknown) => withCode('INVALID_TRANSITION')(e) && /cannot become pending/.test((e as Error).message),
      );
      assert.equal((await store.getRun(run.id))?.state, 'running', 'a refused transition changes nothing');

      const paused = await store.transitionRun(run.id, ['running'], 'paused', 'carol', 'busy');
      assert.equal(paused?.reason, 'busy');
      const resumed = await store.transitionRun(run.id, ['paused'], 'running', 'carol', 'resume');
      assert.equal(resumed?.startedAt, running?.startedAt, 'startedAt is the first start');
      const failed = await store.transitionRun(run.id, ['running'], 'failed', 'engine', 'too many failures');
      assert.ok(failed?.finishedAt);
      assert.equal(failed?.reason, 'too many failures');
      const retried = await store.transitionRun(run.id, ['failed'], 'pending', 'dave', 'retry');
      assert.deepEqual([retried?.state, retried?.finishedAt, retried?.startedAt], ['pending', null, running?.startedAt]);
      await store.transitionRun(run.id, ['pending'], 'running', 'engine', 'retrying');
      const done = await store.transitionRun(run.id, ['running'], 'succeeded', 'engine', 'all done');
      assert.ok(done?.finishedAt);
      await assert.rejects(store.transitionRun(run.id, ['succeeded'], 'running', 'x', 'y'), withCode('INVALID_TRANSITION'));
      assert.equal(await store.transitionRun(run.id, ['running'], 'paused', 'x', 'y'), undefined, 'CAS miss comes before the edge check');

      const log = await store.listTransitions(run.id);
      assert.deepEqual(
        log.map((t) => [t.runId, t.from, t.to, t.actor, t.reason]),
        [
          [run.id, null, 'pending', 'tester', 'contract test'],
          [run.id, 'pending', 'running', 'alice', 'go'],
          [run.id, 'running', 'paused', 'carol', 'busy'],
          [run.id, 'paused', 'running', 'carol', 'resume'],
          [run.id, 'running', 'failed', 'engine', 'too many failures'],
          [run.id, 'failed', 'pending', 'dave', 'retry'],
          [run.id, 'pending', 'running', 'engine', 'retrying'],
          [run.id, 'running', 'succeeded', 'engine', 'all done'],
        ],
      );
      assert.ok(log.every((t) => !Number.isNaN(Date.parse(t.at))));
      assert.deepEqual(await store.listTransitions('r_missing'), []);
      await assert.rejects(
        store.transitionRun('r_nope', ['pending'], 'running', 'x', 'y'),
        (e: unknown) => withCode('NOT_FOUND')(e) && /no run "r_nope"/.test((e as Error).message),
      );
    });

    withStore('control requests are set, cleared, and cleared when honoured', async (store) => {
      const run = await store.createRun(newRun());
      await store.transitionRun(run.id, ['pending'], 'running', 'engine', 'go');
      await store.setControl(run.id, control('pause', 'carol'));
      assert.deepEqual((await store.getRun(run.id))?.control, control('pause', 'carol'));
      await store.setControl(run.id, null);
      assert.equal((await store.getRun(run.id))?.control, null);
      await store.setControl(run.id, control('pause', 'carol'));
      const paused = await store.transitionRun(run.id, ['running'], 'paused', 'carol', 'busy');
      assert.equal(paused?.control, null, 'an honoured pause is cleared');
      await store.setControl(run.id, control('cancel'));
      const resumed = await store.transitionRun(run.id, ['paused'], 'running', 'engine', 'resume');
      assert.deepEqual(resumed?.control, control('cancel'), 'a transition to running leaves the request for the workers');
      const cancelled = await store.transitionRun(run.id, ['running'], 'cancelled', 'op', 'stop');
      assert.equal(cancelled?.control, null);
      await assert.rejects(store.setControl('r_missing', control('pause')), withCode('NOT_FOUND'));
    });

    // ---- partitions and leases ------------------------------------------------------------------

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
      assert.equal(
        await store.releasePartition({ ...a, fence: a.fence + 1 }, 'failed', 'x'),
        false,
        'a fence from the future is stale too',
      );
    });

    withStore(
      "a refused checkpoint commits none of its transaction's writes, however many checkpoints committed before it",
      async (store) => {
        await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_writes (batch integer NOT NULL)'));
        const run = await store.createRun(newRun());
        const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
        const stats = { worker: 'w1', startedAtMs: Date.now() - 5, finishedAtMs: Date.now() };
        let cursor: unknown = null;
        // Several committed batches on the same connection (a store may send the COMMIT with the
        // checkpoint once its statement is prepared there): each write commits with its checkpoint.
        for (let i = 1; i <= 4; i++) {
          await store.transaction(async (tx) => {
            await tx.sql.execute('INSERT INTO contract_writes (batch) VALUES (?)', [i]);
            return tx.checkpoint(
              batch(lease, { previousCursor: cursor as never, cursor: [i], delta: { ...zero, received: 1, processed: 1 }, stats }),
            );
          });
          cursor = [i];
        }
        // The cursor the batch was read from is no longer the stored one (a retry after a lost COMMIT acknowledgement).
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.sql.execute('INSERT INTO contract_writes (batch) VALUES (?)', [50]);
            return tx.checkpoint(batch(lease, { previousCursor: [2], cursor: [5], stats }));
          }),
          withCode('CHECKPOINT_MOVED'),
        );
        // The lease went to someone else.
        const stale = { ...lease, fence: lease.fence - 1 };
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.sql.execute('INSERT INTO contract_writes (batch) VALUES (?)', [60]);
            return tx.checkpoint(batch(stale, { previousCursor: cursor as never, cursor: [5], stats }));
          }),
          withCode('LEASE_LOST'),
        );
        const rows = await store.transaction((tx) => tx.sql.query<{ batch: number }>('SELECT batch FROM contract_writes ORDER BY batch'));
        assert.deepEqual(
          rows.map((r) => Number(r.batch)),
          [1, 2, 3, 4],
        );
        const [p] = await store.listPartitions(run.id);
        assert.deepEqual([p!.cursor, p!.batches, p!.counts.processed], [[4], 4, 4]);
        // And the store still works on the connections the refusals used.
        await store.transaction((tx) => tx.checkpoint(batch(lease, { previousCursor: [4], cursor: [5], stats })));
        assert.deepEqual((await store.listPartitions(run.id))[0]!.cursor, [5]);
      },
    );

    withStore('planned items counted after the run was created are recorded once, never over a count it has', async (store) => {
      const counted = await store.createRun(newRun({ plannedItems: null }));
      assert.equal((await store.getRun(counted.id))!.plannedItems, null);
      assert.equal(await store.setPlannedItems(counted.id, 1234), true);
      assert.equal((await store.getRun(counted.id))!.plannedItems, 1234);
      assert.equal(await store.setPlannedItems(counted.id, 99), false, 'a second count does not replace the first');
      assert.equal((await store.getRun(counted.id))!.plannedItems, 1234);
      const known = await store.createRun(newRun());
      assert.equal(await store.setPlannedItems(known.id, 5), false);
      assert.equal((await store.getRun(known.id))!.plannedItems, 200);
      assert.equal(await store.setPlannedItems('r_missing', 5), false);
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

    // ---- batch transactions ---------------------------------------------------------------------

    withStore('a checkpoint advances cursor and counts, records ledger and quarantine, returns control', async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
      const quiet = await store.transaction((tx) =>
        tx.checkpoint(batch(lease, { cursor: [10], delta: { ...zero, received: 10, processed: 10 } })),
      );
      assert.deepEqual(quiet, { control: null, runState: 'pending', upper: [100], tuning: 0, rampLanes: null });
      await store.setControl(run.id, control('cancel'));
      const result = await store.transaction((tx) =>
        tx.checkpoint({
          previousCursor: [10],
          lease,
          cursor: { id: 42, at: 'x' },
          done: false,
          delta: { received: 10, processed: 8, skipped: 1, failed: 1, quarantined: 1 },
          ledger: { namespace: 'ns', keys: ['1', '2', '3'] },
          quarantine: [{ itemKey: '7', errorClass: 'BAD', message: 'bad row', payload: '{"id":7}', attempts: 3, locator: { line: 7 } }],
          leaseMs: 60_000,
        }),
      );
      assert.deepEqual(result.control, control('cancel'));
      assert.equal(result.runState, 'pending');
      const [p] = await store.listPartitions(run.id);
      assert.deepEqual(
        [p!.cursor, p!.batches, p!.counts, p!.state, p!.leaseOwner],
        [{ id: 42, at: 'x' }, 2, { received: 20, processed: 18, skipped: 1, failed: 1, quarantined: 1 }, 'running', 'w1'],
      );
      assert.equal(leaseLeft(p!), 60_000, 'the checkpoint extends the lease to now + leaseMs');
      assert.deepEqual((await store.getRun(run.id))?.counts, { received: 20, processed: 18, skipped: 1, failed: 1, quarantined: 1 });
      assert.deepEqual([...(await store.deliveredKeys('ns', ['1', '3', '9']))].sort(), ['1', '3']);
      const [q] = await store.listQuarantine({ runId: run.id });
      assert.deepEqual(
        [q!.runId, q!.backfill, q!.itemKey, q!.errorClass, q!.message, q!.payload, q!.locator, q!.attempts, q!.status, q!.partitionIndex],
        [run.id, 'contract', '7', 'BAD', 'bad row', '{"id":7}', { line: 7 }, 3, 'open', 0],
      );
      assert.deepEqual(await store.quarantineSummary({ runId: run.id }), [{ errorClass: 'BAD', count: 1 }]);
      // done: the partition is finished and its lease released
      await store.transaction((tx) => tx.checkpoint(batch(lease, { previousCursor: { id: 42, at: 'x' }, cursor: [99], done: true })));
      const [finished] = await store.listPartitions(run.id);
      assert.deepEqual(
        [finished!.state, finished!.leaseOwner, finished!.leaseExpiresAt, finished!.cursor, finished!.batches],
        ['done', null, null, [99], 3],
      );
      assert.equal(await store.renewLease(lease, 60_000), false, 'a done partition has no lease to renew');
      assert.equal(await store.claimPartition(run.id, 'w2', 60_000).then((l) => l?.index), 1, 'a done partition is not claimed again');
    });

    withStore('a stale fence rolls back the whole batch transaction, user writes included', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_target (id INTEGER PRIMARY KEY, v TEXT)'));
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
      await store.expireLeases(() => true);
      const thief = (await store.claimPartition(run.id, 'w2', 60_000))!;
      assert.equal(thief.fence, lease.fence + 1);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.sql.execute('INSERT INTO contract_target (id, v) VALUES (?, ?)', [1, 'written by a zombie']);
          await tx.checkpoint(
            batch(lease, {
              cursor: [1],
              delta: { ...zero, received: 2, processed: 1, quarantined: 1, failed: 1 },
              ledger: { namespace: 'ns', keys: ['1'] },
              quarantine: [{ itemKey: '2', errorClass: 'BAD', message: 'm', payload: null, attempts: 1 }],
            }),
          );
        }),
        (e: unknown) => e instanceof LeaseLostError && withCode('LEASE_LOST')(e),
      );
      assert.deepEqual(await store.readConnection().query('SELECT * FROM contract_target'), []);
      assert.equal((await store.deliveredKeys('ns', ['1'])).size, 0);
      assert.deepEqual(await store.listQuarantine({ runId: run.id }), []);
      const [p] = await store.listPartitions(run.id);
      assert.deepEqual([p!.cursor, p!.counts, p!.batches, p!.fence, p!.leaseOwner], [null, zero, 0, thief.fence, 'w2']);
      // The store is usable afterwards: the holder's checkpoint goes through.
      await store.transaction((tx) => tx.checkpoint(batch(thief, { cursor: [5] })));
      assert.deepEqual((await store.listPartitions(run.id))[0]!.cursor, [5]);
    });

    withStore('a checkpoint whose batch was already committed (a lost acknowledgement) is refused and rolled back', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_ack (id INTEGER PRIMARY KEY)'));
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
      const write = (id: number) =>
        store.transaction(async (tx) => {
          await tx.sql.execute('INSERT INTO contract_ack (id) VALUES (?)', [id]);
          await tx.checkpoint(batch(lease, { cursor: [10], delta: { ...zero, received: 10, processed: 10 } }));
        });
      await write(1);
      // The same batch again, as a retry after a connection lost right after COMMIT would send it.
      await assert.rejects(write(2), withCode('CHECKPOINT_MOVED'));
      assert.deepEqual(
        (await store.readConnection().query<{ id: number }>('SELECT id FROM contract_ack')).map((r) => Number(r.id)),
        [1],
      );
      assert.equal((await store.getRun(run.id))?.counts.processed, 10);
    });

    withStore('the rollback option leaves nothing behind, checkpoint included', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_dry (id INTEGER PRIMARY KEY)'));
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const result = await store.transaction(
        async (tx) => {
          await tx.sql.execute('INSERT INTO contract_dry (id) VALUES (1)');
          await tx.checkpoint(
            batch(lease, {
              cursor: [50],
              delta: { ...zero, received: 1, processed: 1 },
              ledger: { namespace: 'dry', keys: ['1'] },
              quarantine: [{ itemKey: 'q', errorClass: 'X', message: 'm', payload: null, attempts: 1 }],
            }),
          );
          return 'the result is returned';
        },
        { rollback: true },
      );
      assert.equal(result, 'the result is returned');
      assert.equal((await store.readConnection().query('SELECT * FROM contract_dry')).length, 0);
      assert.equal((await store.deliveredKeys('dry', ['1'])).size, 0);
      assert.deepEqual(await store.listQuarantine({}), []);
      const [p] = await store.listPartitions(run.id);
      assert.deepEqual([p!.cursor, p!.batches, p!.counts], [null, 0, zero]);
    });

    withStore('a throwing transaction is rolled back and its error passes through unchanged', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_throw (id INTEGER PRIMARY KEY)'));
      const thrown = new TypeError('from process');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.sql.execute('INSERT INTO contract_throw (id) VALUES (1)');
          throw thrown;
        }),
        (e: unknown) => e === thrown,
      );
      // A user statement that fails is the user's error too, and the transaction can go on after it.
      const count = await store.transaction(async (tx) => {
        await tx.sql.execute('INSERT INTO contract_throw (id) VALUES (2)');
        await assert.rejects(tx.savepoint(() => tx.sql.execute('INSERT INTO contract_throw (id) VALUES (2)')));
        return (await tx.sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM contract_throw'))[0]!.n;
      });
      assert.equal(Number(count), 1);
      assert.deepEqual(
        (await store.readConnection().query<{ id: number }>('SELECT id FROM contract_throw')).map((r) => Number(r.id)),
        [2],
      );
    });

    withStore('savepoints undo exactly their own writes, nested too', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_sp (id INTEGER PRIMARY KEY)'));
      await store.transaction(async (tx) => {
        await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (1)');
        await assert.rejects(
          tx.savepoint(async () => {
            await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (2)');
            throw new Error('undo me');
          }),
          /undo me/,
        );
        assert.equal(
          await tx.savepoint(async () => {
            await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (3)');
            return 'kept';
          }),
          'kept',
        );
        // Nested: the inner one fails alone; then the outer one fails, taking the inner's released writes with it.
        await tx.savepoint(async () => {
          await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (4)');
          await assert.rejects(
            tx.savepoint(async () => {
              await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (5)');
              throw new Error('inner');
            }),
            /inner/,
          );
          await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (6)');
        });
        await assert.rejects(
          tx.savepoint(async () => {
            await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (7)');
            await tx.savepoint(() => tx.sql.execute('INSERT INTO contract_sp (id) VALUES (8)'));
            throw new Error('outer');
          }),
          /outer/,
        );
      });
      assert.deepEqual(
        (await store.readConnection().query<{ id: number }>('SELECT id FROM contract_sp ORDER BY id')).map((r) => Number(r.id)),
        [1, 3, 4, 6],
      );
    });

    // ---- ledger ---------------------------------------------------------------------------------

    withStore('the ledger is per namespace and permanent across runs', async (store) => {
      const first = await store.createRun(newRun());
      const second = await store.createRun(newRun());
      const leaseA = (await store.claimPartition(first.id, 'w', 60_000))!;
      const leaseB = (await store.claimPartition(second.id, 'w', 60_000))!;
      const odd = ["it's", '"quoted"', 'ünïcode ✓', 'a,b', '[1]', '', ' '];
      await store.transaction((tx) => tx.checkpoint(batch(leaseA, { ledger: { namespace: 'emails', keys: ['1', '2', ...odd] } })));
      // A later run of the same backfill sees what the first one delivered ...
      assert.deepEqual([...(await store.transaction((tx) => tx.deliveredKeys('emails', ['1', '2', '3'])))].sort(), ['1', '2']);
      // ... and delivering an already delivered key again is not an error.
      await store.transaction((tx) => tx.checkpoint(batch(leaseB, { ledger: { namespace: 'emails', keys: ['2', '3'] } })));
      assert.deepEqual([...(await store.deliveredKeys('emails', ['1', '2', '3', '4']))].sort(), ['1', '2', '3']);
      assert.deepEqual([...(await store.deliveredKeys('emails', odd))].sort(), [...odd].sort(), 'any string is a key');
      // Another namespace (another backfill) shares nothing.
      assert.equal((await store.deliveredKeys('invoices', ['1', '2', '3'])).size, 0);
      await store.transaction((tx) => tx.checkpoint(batch(leaseB, { ledger: { namespace: 'invoices', keys: ['1'] } })));
      assert.deepEqual([...(await store.deliveredKeys('invoices', ['1', '2']))], ['1']);
      assert.equal((await store.deliveredKeys('emails', [])).size, 0);
      assert.equal((await store.transaction((tx) => tx.deliveredKeys('emails', []))).size, 0);
    });

    withStore('the ledger handles large key sets in one call', async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
      await store.transaction((tx) => tx.checkpoint(batch(lease, { ledger: { namespace: 'one', keys } })));
      // The same keys again (a re-delivery) are ignored, not an error.
      await store.transaction((tx) => tx.checkpoint(batch(lease, { ledger: { namespace: 'one', keys: keys.slice(0, 10) } })));
      const probe = [...keys, ...Array.from({ length: 5000 }, (_, i) => `other${i}`)];
      assert.equal((await store.deliveredKeys('one', probe)).size, 5000);
      assert.equal((await store.deliveredKeys('two', keys)).size, 0);
      assert.equal((await store.transaction((tx) => tx.deliveredKeys('one', probe))).size, 5000);
      const inTx = await store.transaction((tx) => tx.deliveredKeys('one', ['k1', 'zz']));
      assert.deepEqual([...inTx], ['k1']);
    });

    withStore("deliveredKeys inside a transaction sees that transaction's own ledger writes", async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const seen = await store.transaction(
        async (tx) => {
          await tx.checkpoint(batch(lease, { ledger: { namespace: 'ns', keys: ['a'] } }));
          return tx.deliveredKeys('ns', ['a', 'b']);
        },
        { rollback: true },
      );
      assert.deepEqual([...seen], ['a']);
      assert.equal((await store.deliveredKeys('ns', ['a'])).size, 0);
    });

    // ---- quarantine -----------------------------------------------------------------------------

    withStore('quarantine entries are listed, filtered, paged and summarised', async (store) => {
      const run = await store.createRun(newRun());
      const other = await store.createRun(newRun({ backfill: 'other' }));
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const otherLease = (await store.claimPartition(other.id, 'w', 60_000))!;
      const entry = (itemKey: string, errorClass: string) => ({
        itemKey,
        errorClass,
        message: `${errorClass} on ${itemKey}`,
        payload: `{"k":"${itemKey}"}`,
        attempts: 1,
      });
      await store.transaction((tx) =>
        tx.checkpoint(
          batch(lease, {
            cursor: [1],
            quarantine: [
              entry('a', 'TIMEOUT'),
              entry('b', 'PARSE'),
              entry('c', 'TIMEOUT'),
              entry('d', 'TIMEOUT'),
              entry('e', 'PARSE'),
              entry('f', 'CONSTRAINT'),
            ],
          }),
        ),
      );
      await store.transaction((tx) => tx.checkpoint(batch(otherLease, { quarantine: [entry('z', 'CONSTRAINT')] })));

      const all = await store.listQuarantine({ runId: run.id });
      assert.deepEqual(
        all.map((q) => q.itemKey),
        ['a', 'b', 'c', 'd', 'e', 'f'],
      );
      assert.ok(
        all.every((q, i) => i === 0 || q.id > all[i - 1]!.id),
        'by id ascending',
      );
      assert.ok(all.every((q) => q.locator === undefined && q.payload === `{"k":"${q.itemKey}"}`));
      assert.equal((await store.listQuarantine({})).length, 7);
      assert.deepEqual(
        (await store.listQuarantine({ backfill: 'other' })).map((q) => q.itemKey),
        ['z'],
      );
      assert.deepEqual(
        (await store.listQuarantine({ runId: run.id, errorClass: 'PARSE' })).map((q) => q.itemKey),
        ['b', 'e'],
      );
      assert.deepEqual(
        (await store.listQuarantine({ runId: run.id, status: 'replayed' })).map((q) => q.itemKey),
        [],
      );
      const page1 = await store.listQuarantine({ runId: run.id, limit: 4 });
      const page2 = await store.listQuarantine({ runId: run.id, limit: 4, afterId: page1.at(-1)!.id });
      assert.deepEqual(
        [page1.map((q) => q.itemKey), page2.map((q) => q.itemKey)],
        [
          ['a', 'b', 'c', 'd'],
          ['e', 'f'],
        ],
      );
      assert.deepEqual(await store.quarantineSummary({ runId: run.id }), [
        { errorClass: 'TIMEOUT', count: 3 },
        { errorClass: 'PARSE', count: 2 },
        { errorClass: 'CONSTRAINT', count: 1 },
      ]);
      assert.deepEqual(await store.quarantineSummary({ backfill: 'other' }), [{ errorClass: 'CONSTRAINT', count: 1 }]);
      assert.deepEqual(
        (await store.quarantineSummary({})).map((s) => [s.errorClass, s.count]),
        [
          ['TIMEOUT', 3],
          ['CONSTRAINT', 2],
          ['PARSE', 2],
        ],
      );
    });

    withStore('a key quarantined again in the same run updates its entry instead of adding one', async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      await store.transaction((tx) =>
        tx.checkpoint(
          batch(lease, { cursor: [1], quarantine: [{ itemKey: 'k', errorClass: 'A', message: 'first', payload: '1', attempts: 3 }] }),
        ),
      );
      await store.transaction((tx) =>
        tx.checkpoint(
          batch(lease, {
            previousCursor: [1],
            cursor: [2],
            quarantine: [{ itemKey: 'k', errorClass: 'B', message: 'second', payload: '2', attempts: 2 }],
          }),
        ),
      );
      const entries = await store.listQuarantine({ runId: run.id });
      assert.deepEqual(
        entries.map((q) => [q.itemKey, q.errorClass, q.message, q.payload, q.attempts, q.status]),
        [['k', 'B', 'second', '2', 5, 'open']],
      );
      assert.deepEqual(await store.quarantineSummary({ runId: run.id }), [{ errorClass: 'B', count: 1 }]);
    });

    withStore("replay bookkeeping moves counts on the entries' partitions and closes entries", async (store) => {
      const run = await store.createRun(newRun());
      const first = (await store.claimPartition(run.id, 'w', 60_000))!;
      const second = (await store.claimPartition(run.id, 'w', 60_000))!;
      const entry = (itemKey: string, errorClass = 'X') => ({ itemKey, errorClass, message: 'm', payload: '{}', attempts: 1 });
      await store.transaction((tx) =>
        tx.checkpoint(
          batch(first, {
            cursor: [5],
            delta: { received: 2, processed: 0, skipped: 0, failed: 2, quarantined: 2 },
            quarantine: [entry('a'), entry('b', 'Y')],
          }),
        ),
      );
      await store.transaction((tx) =>
        tx.checkpoint(
          batch(second, {
            cursor: [105],
            delta: { received: 1, processed: 0, skipped: 0, failed: 1, quarantined: 1 },
            quarantine: [entry('c')],
          }),
        ),
      );
      const [a, b, c] = await store.listQuarantine({ runId: run.id });
      await store.transaction(async (tx) => {
        await tx.markReplayed(run.id, [a!.id, c!.id], { namespace: 'ns', keys: ['a', 'c'] });
        await tx.recordReplayFailure(b!.id, 'Z', 'still broken');
      });
      assert.deepEqual((await store.getRun(run.id))?.counts, { received: 3, processed: 2, skipped: 0, failed: 1, quarantined: 1 });
      assert.deepEqual(
        (await store.listPartitions(run.id)).map((p) => [p.counts.processed, p.counts.quarantined]),
        [
          [1, 1],
          [1, 0],
        ],
      );
      const open = await store.listQuarantine({ runId: run.id, status: 'open' });
      assert.deepEqual(
        open.map((q) => [q.itemKey, q.errorClass, q.message, q.attempts]),
        [['b', 'Z', 'still broken', 2]],
      );
      assert.deepEqual(
        (await store.listQuarantine({ runId: run.id, status: 'replayed' })).map((q) => q.itemKey),
        ['a', 'c'],
      );
      assert.deepEqual([...(await store.deliveredKeys('ns', ['a', 'b', 'c']))].sort(), ['a', 'c']);
      assert.deepEqual(await store.quarantineSummary({ runId: run.id }), [{ errorClass: 'Z', count: 1 }]);
      assert.deepEqual(
        (await store.listQuarantine({ runId: run.id, afterId: a!.id })).map((q) => q.itemKey),
        ['b', 'c'],
      );
      // Replaying an entry twice (or one of another run) moves nothing.
      const other = await store.createRun(newRun());
      await store.transaction(async (tx) => {
        await tx.markReplayed(run.id, [a!.id]);
        await tx.markReplayed(other.id, [b!.id]);
        await tx.markReplayed(run.id, []);
      });
      assert.deepEqual((await store.getRun(run.id))?.counts, { received: 3, processed: 2, skipped: 0, failed: 1, quarantined: 1 });
      assert.equal((await store.listQuarantine({ runId: run.id, status: 'open' })).length, 1);
    });

    // ---- splits ---------------------------------------------------------------------------------

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

    // ---- concurrency ----------------------------------------------------------------------------

    withStore("concurrent writers never land inside each other's transactions", async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_iso (id INTEGER PRIMARY KEY)'));
      const run = await store.createRun(newRun({ partitions: [{ lower: null, upper: null }] }));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const slow = store.transaction(async (tx) => {
        await tx.sql.execute('INSERT INTO contract_iso (id) VALUES (1)');
        opened();
        await gate;
        throw new Error('roll back');
      });
      await open;
      // Issued while the slow transaction is open; none may be rolled back with it.
      const writes = Promise.all([
        store.setControl(run.id, control('pause')),
        store.claimPartition(run.id, 'w', 60_000),
        store.transitionRun(run.id, ['pending'], 'running', 'engine', 'go'),
        store.transaction((tx) => tx.sql.execute('INSERT INTO contract_iso (id) VALUES (2)')),
      ]);
      release();
      await assert.rejects(slow, /roll back/);
      const [, lease, running] = await writes;
      assert.equal(lease?.index, 0);
      assert.equal(running?.state, 'running');
      const after = (await store.getRun(run.id))!;
      assert.deepEqual([after.state, after.control?.kind], ['running', 'pause']);
      assert.equal((await store.listPartitions(run.id))[0]!.state, 'running');
      assert.deepEqual(
        (await store.readConnection().query<{ id: number }>('SELECT id FROM contract_iso')).map((r) => Number(r.id)),
        [2],
      );
    });

    withStore('many concurrent batch transactions on different partitions all commit', async (store) => {
      const n = 8;
      const run = await store.createRun(newRun({ partitions: Array.from({ length: n }, (_, i) => ({ lower: [i], upper: [i + 1] })) }));
      const leases = await Promise.all(Array.from({ length: n }, () => store.claimPartition(run.id, 'w', 60_000)));
      await Promise.all(
        leases.map((lease, i) =>
          (async () => {
            let previous: number[] | null = null;
            for (let b = 0; b < 5; b++) {
              const cursor = [i, b];
              await store.transaction(async (tx) => {
                await tx.deliveredKeys('ns', [`${i}:${b}`]);
                await Promise.resolve(); // yield mid-transaction, as a real `process` does
                await tx.checkpoint(
                  batch(lease!, {
                    previousCursor: previous,
                    cursor,
                    delta: { ...zero, received: 1, processed: 1 },
                    ledger: { namespace: 'ns', keys: [`${i}:${b}`] },
                  }),
                );
              });
              previous = cursor;
            }
          })(),
        ),
      );
      const got = (await store.getRun(run.id))!;
      assert.deepEqual([got.counts.processed, got.batches], [n * 5, n * 5]);
      assert.equal(
        (
          await store.deliveredKeys(
            'ns',
            Array.from({ length: n * 5 }, (_, k) => `${Math.floor(k / 5)}:${k % 5}`),
          )
        ).size,
        n * 5,
      );
    });

    // ---- concurrency keys and fan-out -----------------------------------------------------------

    withStore('keeps concurrency keys on runs and lists runs by key', async (store) => {
      const a = await store.createRun(newRun({ keys: { installationId: '42', orgId: 'acme' } }));
      const b = await store.createRun(newRun({ keys: { installationId: '43', orgId: 'acme' } }));
      const plain = await store.createRun(newRun());
      assert.deepEqual(a.keys, { installationId: '42', orgId: 'acme' });
      assert.deepEqual(plain.keys, {});
      assert.deepEqual(
        (await store.listRuns({ key: { name: 'installationId', value: '42' } })).map((r) => r.id),
        [a.id],
      );
      assert.deepEqual(
        (await store.listRuns({ key: { name: 'orgId', value: 'acme' } })).map((r) => r.id),
        [b.id, a.id],
      );
      assert.deepEqual(
        (await store.listRuns({ key: { name: 'orgId', value: 'other' } })).map((r) => r.id),
        [],
      );
      // Key values are text: 42 the number and "42" the string are the same installation.
      assert.deepEqual(
        (await store.listRuns({ key: { name: 'installationId', value: '4' } })).map((r) => r.id),
        [],
      );
    });

    withStore('startRun queues a run behind the running run of the same key, and starts others', async (store) => {
      const limits = (value: string) => ({ keys: [{ name: 'installationId', value, runs: 1 }] });
      const first = await store.createRun(newRun({ keys: { installationId: '42' } }));
      const duplicate = await store.createRun(newRun({ keys: { installationId: '42' } }));
      const other = await store.createRun(newRun({ keys: { installationId: '43' } }));
      const started = await store.startRun(first.id, ['pending'], 'w1', 'go', limits('42'));
      assert.equal(started.kind, 'started');
      assert.equal(started.kind === 'started' && started.run.state, 'running');
      const queued = await store.startRun(duplicate.id, ['pending'], 'w2', 'go', limits('42'));
      assert.equal(queued.kind, 'queued');
      assert.equal(queued.kind === 'queued' && queued.behind, first.id);
      assert.match(queued.kind === 'queued' ? queued.reason : '', /installationId=42 has 1 running run \(at most 1\)/);
      assert.equal((await store.getRun(duplicate.id))!.state, 'pending', 'a queued run stays pending');
      assert.equal(
        (await store.startRun(other.id, ['pending'], 'w3', 'go', limits('43'))).kind,
        'started',
        'another key value is not held back',
      );
      assert.equal((await store.startRun(first.id, ['pending'], 'w1', 'again', limits('42'))).kind, 'unchanged');
      await store.transitionRun(first.id, ['running'], 'succeeded', 'w1', 'done');
      assert.equal(
        (await store.startRun(duplicate.id, ['pending'], 'w2', 'go', limits('42'))).kind,
        'started',
        'the queued run starts when the slot frees',
      );
    });

    withStore('startRun lets exactly one of many simultaneous starts of a key through', async (store) => {
      const runs = await Promise.all(Array.from({ length: 6 }, () => store.createRun(newRun({ keys: { installationId: '7' } }))));
      const results = await Promise.all(
        runs.map((r) => store.startRun(r.id, ['pending'], 'w', 'go', { keys: [{ name: 'installationId', value: '7', runs: 1 }] })),
      );
      assert.equal(results.filter((r) => r.kind === 'started').length, 1);
      assert.equal(results.filter((r) => r.kind === 'queued').length, 5);
      assert.equal((await store.listRuns({ states: ['running'] })).length, 1);
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
      const results = await Promise.all(
        runs.flatMap((r) => [0, 1, 2].map((i) => store.claimPartitionWithin(r.id, `w${i}`, 60_000, limits))),
      );
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

    // ---- rollout budgets of the whole run: a canary's items, a gradual rollout's lanes ---------------

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

    // ---- throttling: live retunes and decisions ---------------------------------------------------

    withStore('a retune changes the options and moves the tuning version every checkpoint sees', async (store) => {
      const run = await store.createRun(newRun());
      assert.equal(run.tuning, 0);
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const retuned = await store.updateRunOptions(run.id, { batchSize: 50, concurrency: 1, batchDelayMs: 250, profile: 'background' });
      assert.equal(retuned.tuning, 1);
      assert.deepEqual(retuned.options, { ...options, batchSize: 50, concurrency: 1, batchDelayMs: 250, profile: 'background' });
      const seen = await store.transaction((tx) => tx.checkpoint(batch(lease, { cursor: [1] })));
      assert.equal(seen.tuning, 1);
      assert.equal(
        (await store.updateRunOptions(run.id, { batchSize: 75 })).options.batchDelayMs,
        250,
        'a retune keeps what it does not change',
      );
      assert.equal((await store.getRun(run.id))!.tuning, 2);
      await assert.rejects(store.updateRunOptions('r_missing', { batchSize: 1 }), withCode('NOT_FOUND'));
    });

    withStore('records throttle decisions per run, newest first', async (store) => {
      const run = await store.createRun(newRun());
      const other = await store.createRun(newRun());
      await store.recordDecision(run.id, {
        worker: 'w1',
        kind: 'paused',
        reason: 'db connections 83 % ≥ 80 %',
        settings: { batchSize: 100 },
      });
      await store.recordDecision(run.id, {
        worker: 'w1',
        kind: 'resumed',
        reason: 'db connections 41 % < 80 %',
        settings: { batchSize: 100 },
      });
      await store.recordDecision(other.id, { worker: 'w2', kind: 'slowed', reason: 'probe p95 high', settings: {} });
      const decisions = await store.listDecisions(run.id);
      assert.deepEqual(
        decisions.map((d) => [d.runId, d.worker, d.kind, d.reason, d.settings]),
        [
          [run.id, 'w1', 'resumed', 'db connections 41 % < 80 %', { batchSize: 100 }],
          [run.id, 'w1', 'paused', 'db connections 83 % ≥ 80 %', { batchSize: 100 }],
        ],
      );
      assert.ok(decisions[0]!.id > decisions[1]!.id);
      assert.ok(!Number.isNaN(Date.parse(decisions[0]!.at)));
      assert.equal((await store.listDecisions(run.id, 1)).length, 1);
    });

    // ---- batch history and SLO alerts ----------------------------------------------------------

    withStore("keeps every committed batch in the history and sums a backfill's window", async (store) => {
      const run = await store.createRun(newRun());
      const other = await store.createRun(newRun({ backfill: 'other' }));
      const t0 = Date.parse('2026-03-01T00:00:00.000Z');
      const leases = new Map<string, { lease: PartitionLease; cursor: number | null }>();
      const commit = async (runId: string, finishedAtMs: number, durationMs: number, delta: Partial<Counts>, withStats = true) => {
        if (!leases.has(runId)) leases.set(runId, { lease: (await store.claimPartition(runId, 'w1', 60_000))!, cursor: null });
        const held = leases.get(runId)!;
        const cursor = (held.cursor ?? 0) + 1;
        await store.transaction((tx) =>
          tx.checkpoint(
            batch(held.lease, {
              previousCursor: held.cursor === null ? null : [held.cursor],
              cursor: [cursor],
              delta: { ...zero, ...delta },
              ...(withStats ? { stats: { worker: 'w1', startedAtMs: finishedAtMs - durationMs, finishedAtMs } } : {}),
            }),
          ),
        );
        held.cursor = cursor;
      };
      await commit(run.id, t0, 1_000, { received: 10, processed: 10 });
      await commit(run.id, t0 + 60_000, 400_000, { received: 10, processed: 8, failed: 2, quarantined: 2 });
      await commit(other.id, t0 + 60_000, 500_000, { received: 99, quarantined: 99 });
      // A checkpoint without stats (a replay) leaves no history row.
      await commit(run.id, t0 + 90_000, 1, { received: 1, processed: 1 }, false);

      const batches = await store.listBatches(run.id);
      assert.deepEqual(
        batches.map((b) => [b.runId, b.backfill, b.worker, b.durationMs, b.finishedAt, b.counts.received, b.counts.quarantined]),
        [
          [run.id, 'contract', 'w1', 1_000, '2026-03-01T00:00:00.000Z', 10, 0],
          [run.id, 'contract', 'w1', 400_000, '2026-03-01T00:01:00.000Z', 10, 2],
        ],
      );
      assert.deepEqual(
        (await store.listBatches(run.id, { afterId: batches[0]!.id })).map((b) => b.id),
        [batches[1]!.id],
      );
      assert.deepEqual(await store.batchWindow('contract', t0, 300_000), { batches: 2, slowBatches: 1, items: 20, badItems: 2 });
      assert.deepEqual(await store.batchWindow('contract', t0 + 1, 300_000), { batches: 1, slowBatches: 1, items: 10, badItems: 2 });
      assert.deepEqual(await store.batchWindow('contract', t0 + 60_001, 300_000), { batches: 0, slowBatches: 0, items: 0, badItems: 0 });
      assert.deepEqual(await store.batchWindow('other', t0, 300_000), { batches: 1, slowBatches: 1, items: 99, badItems: 99 });
      // The error-ratio SLI asks with no threshold at all.
      assert.deepEqual(await store.batchWindow('contract', t0, Number.MAX_SAFE_INTEGER), {
        batches: 2,
        slowBatches: 0,
        items: 20,
        badItems: 2,
      });
    });

    withStore('moves alerts by compare-and-set and keeps their history', async (store) => {
      const key = { backfill: 'contract', slo: 'latency', tier: 'fast-burn' };
      const base = { ...key, severity: 'page' as const, burnLong: 20, burnShort: 30, summary: 'burning 20×' };
      const t0 = Date.parse('2026-03-01T00:00:00.000Z');
      assert.deepEqual(await store.listAlerts(), []);
      assert.equal(
        await store.changeAlert({ ...base, from: 'pending', to: 'firing', sinceMs: t0 }),
        false,
        'an absent alert is inactive, not pending',
      );
      assert.equal(await store.changeAlert({ ...base, from: 'inactive', to: 'firing', sinceMs: t0 }), true);
      assert.equal(
        await store.changeAlert({ ...base, from: 'inactive', to: 'firing', sinceMs: t0 }),
        false,
        'a second evaluator loses the race',
      );
      assert.equal(
        await store.changeAlert({ ...base, from: 'firing', to: 'firing', sinceMs: t0 + 5_000, burnLong: 25, summary: 'burning 25×' }),
        true,
      );
      let [alert] = await store.listAlerts('contract');
      assert.deepEqual(
        [alert!.state, alert!.since, alert!.burnLong, alert!.burnShort, alert!.summary],
        ['firing', '2026-03-01T00:00:00.000Z', 25, 30, 'burning 25×'],
      );
      assert.equal(
        await store.changeAlert({
          ...base,
          from: 'firing',
          to: 'resolved',
          sinceMs: t0 + 60_000,
          burnLong: 0,
          burnShort: null,
          summary: 'quiet',
        }),
        true,
      );
      [alert] = await store.listAlerts();
      assert.deepEqual([alert!.state, alert!.since, alert!.burnShort], ['resolved', '2026-03-01T00:01:00.000Z', null]);
      assert.deepEqual(await store.listAlerts('other'), []);

      const events = await store.listAlertEvents({ backfill: 'contract' });
      assert.deepEqual(
        events.map((e) => [e.from, e.to, e.at]),
        [
          ['inactive', 'firing', '2026-03-01T00:00:00.000Z'],
          ['firing', 'resolved', '2026-03-01T00:01:00.000Z'],
        ],
      );
      assert.deepEqual(
        (await store.listAlertEvents({ alert: key, sinceMs: t0 + 1 })).map((e) => e.to),
        ['resolved'],
      );
      assert.deepEqual(await store.listAlertEvents({ backfill: 'contract', untilMs: t0 - 1 }), []);
      assert.deepEqual(await store.listAlertEvents({ alert: { ...key, tier: 'slow-burn' } }), []);
    });

    // ---- alert notifications (the outbox) -------------------------------------------------------

    withStore("records a notification per webhook with the alert's transition, and only with a transition", async (store) => {
      const { change, notification } = firing('fast-burn', 'n_one');
      const notify = { notification, webhooks: ['http://a.test/hook', 'http://b.test/hook'], owner: 'e1', leaseMs: 60_000 };
      assert.equal(await store.changeAlert(change, notify), true);
      const rows = await store.listNotifications();
      assert.deepEqual(
        rows.map((r) => [r.id, r.webhook, r.backfill, r.state, r.attempts, r.lastError, r.settledAt]),
        [
          ['n_one', 'http://a.test/hook', 'contract', 'pending', 0, null, null],
          ['n_one', 'http://b.test/hook', 'contract', 'pending', 0, null, null],
        ],
      );
      assert.deepEqual(rows[0]!.notification, notification);
      assert.ok(!Number.isNaN(Date.parse(rows[0]!.createdAt)));

      assert.equal(
        await store.changeAlert(change, { ...notify, notification: { ...notification, id: 'n_lost' } }),
        false,
        'the evaluator that lost the race',
      );
      assert.equal(
        await store.changeAlert(
          { ...change, from: 'firing', to: 'firing' },
          { ...notify, notification: { ...notification, id: 'n_same' } },
        ),
        true,
      );
      assert.deepEqual(
        (await store.listNotifications()).map((r) => r.id),
        ['n_one', 'n_one'],
        'a lost race and an unchanged state record nothing',
      );
      assert.deepEqual(await store.listNotifications({ backfill: 'other' }), []);
      assert.equal((await store.listNotifications({ state: 'delivered' })).length, 0);
    });

    withStore('claims due notifications for one evaluator at a time, settles them, and schedules retries', async (store) => {
      const { change, notification } = firing('fast-burn', 'n_two');
      await store.changeAlert(change, {
        notification,
        webhooks: ['http://a.test/hook', 'http://b.test/hook'],
        owner: 'e1',
        leaseMs: 60_000,
      });
      const claim = (owner: string, backfills = ['contract']) => store.claimNotifications({ owner, backfills, leaseMs: 60_000, limit: 10 });

      const other = await claim('e2');
      assert.deepEqual(other.claimed, [], 'the evaluator that moved the alert holds its notification');
      assert.ok(
        other.nextDueInMs !== null && other.nextDueInMs > 50_000 && other.nextDueInMs <= 60_000,
        `due when the claim expires, got ${other.nextDueInMs}`,
      );
      const own = await claim('e1');
      assert.deepEqual(
        own.claimed.map((r) => [r.id, r.webhook]),
        [
          ['n_two', 'http://a.test/hook'],
          ['n_two', 'http://b.test/hook'],
        ],
      );
      assert.equal(own.nextDueInMs, null, 'nothing else is pending');
      assert.deepEqual(own.claimed[0]!.notification, notification);

      assert.equal(
        await store.settleNotification('e2', 'n_two', 'http://a.test/hook', { outcome: 'delivered' }),
        false,
        'only the holder settles',
      );
      assert.equal(await store.settleNotification('e1', 'n_two', 'http://a.test/hook', { outcome: 'delivered' }), true);
      assert.equal(
        await store.settleNotification('e1', 'n_two', 'http://b.test/hook', { outcome: 'retry', retryInMs: 60_000, error: 'HTTP 500' }),
        true,
      );
      assert.equal(await store.settleNotification('e1', 'n_two', 'http://a.test/hook', { outcome: 'delivered' }), false, 'settled once');
      const [a, b] = await store.listNotifications();
      assert.deepEqual([a!.state, a!.attempts, a!.lastError], ['delivered', 1, null]);
      assert.ok(a!.settledAt !== null);
      assert.deepEqual([b!.state, b!.attempts, b!.lastError, b!.settledAt], ['pending', 1, 'HTTP 500', null]);
      assert.deepEqual(
        (await store.listNotifications({ state: 'pending' })).map((r) => r.webhook),
        ['http://b.test/hook'],
      );

      const later = await claim('e2');
      assert.deepEqual(later.claimed, [], 'the retry is not due yet');
      assert.ok(
        later.nextDueInMs !== null && later.nextDueInMs > 50_000 && later.nextDueInMs <= 60_000,
        `due at the retry, got ${later.nextDueInMs}`,
      );
      assert.deepEqual(await claim('e2', ['other']), { claimed: [], nextDueInMs: null }, "another backfill's evaluator sees none");
    });

    withStore('hands a notification whose claim expired to the next evaluator, and gives two evaluators disjoint claims', async (store) => {
      const { change, notification } = firing('fast-burn', 'n_orphan');
      // e1 moves the alert and dies before delivering: its claim expires at once.
      await store.changeAlert(change, { notification, webhooks: ['http://a.test/hook'], owner: 'e1', leaseMs: 1 });
      const taken = await waitFor(
        async () => {
          const { claimed } = await store.claimNotifications({ owner: 'e2', backfills: ['contract'], leaseMs: 60_000, limit: 10 });
          return claimed.length > 0 ? claimed : undefined;
        },
        'the expired claim to be claimable',
        5_000,
      );
      assert.deepEqual(
        taken.map((r) => r.id),
        ['n_orphan'],
      );
      assert.equal(
        await store.reviseNotification('e1', 'n_orphan', { ...notification, paused: ['r_1'] }),
        false,
        'the dead claim cannot change it',
      );
      assert.equal(
        await store.settleNotification('e1', 'n_orphan', 'http://a.test/hook', { outcome: 'delivered' }),
        false,
        'nor settle it',
      );
      assert.equal(await store.reviseNotification('e2', 'n_orphan', { ...notification, paused: ['r_1'] }), true);
      assert.deepEqual((await store.listNotifications())[0]!.notification.paused, ['r_1']);
      assert.equal(await store.settleNotification('e2', 'n_orphan', 'http://a.test/hook', { outcome: 'failed', error: 'HTTP 403' }), true);
      const [given] = await store.listNotifications();
      assert.deepEqual([given!.state, given!.attempts, given!.lastError], ['failed', 1, 'HTTP 403']);
      assert.deepEqual(
        (await store.claimNotifications({ owner: 'e3', backfills: ['contract'], leaseMs: 60_000, limit: 10 })).nextDueInMs,
        null,
        'a failed notification is not pending',
      );

      const ids = ['n_a', 'n_b', 'n_c', 'n_d', 'n_e', 'n_f'];
      for (const id of ids) {
        const next = firing(`tier-${id}`, id);
        await store.changeAlert(next.change, {
          notification: next.notification,
          webhooks: ['http://a.test/hook'],
          owner: 'dead',
          leaseMs: 1,
        });
      }
      const claims = await waitFor(
        async () => {
          const both = await Promise.all(
            ['e3', 'e4'].map((owner) => store.claimNotifications({ owner, backfills: ['contract'], leaseMs: 60_000, limit: 10 })),
          );
          return both[0]!.claimed.length + both[1]!.claimed.length === ids.length ? both : undefined;
        },
        'all six to be claimed',
        5_000,
      );
      const [third, fourth] = claims.map((c) => c.claimed.map((r) => r.id));
      assert.deepEqual([...third!, ...fourth!].sort(), ids, 'every notification claimed once');
      assert.equal(third!.filter((id) => fourth!.includes(id)).length, 0, 'by one evaluator only');
    });
  });
}
