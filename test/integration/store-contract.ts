import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseLostError } from '../../src/core/errors.js';
import type { RunOptions } from '../../src/core/run.js';
import type { NewRun, Store } from '../../src/core/store.js';

const options: RunOptions = { batchSize: 100, concurrency: 2, maxFailureRatio: 0.01, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } };
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

const zero = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };

/**
 * The behaviour every Store must have, written against the interface only, so that the same suite
 * runs against SQLite now and PostgreSQL later.
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
    withStore('creates, reads and lists runs (newest first, filtered)', async (store) => {
      const a = await store.createRun(newRun());
      const b = await store.createRun(newRun({ backfill: 'other' }));
      assert.equal(a.state, 'pending');
      assert.deepEqual(a.params, { since: '2026-01-01T00:00:00.000Z' });
      assert.deepEqual(a.options, options);
      assert.deepEqual(a.counts, zero);
      assert.equal(a.plannedItems, 200);
      assert.equal(a.createdBy, 'tester');
      assert.deepEqual((await store.listRuns()).map((r) => r.id), [b.id, a.id]);
      assert.deepEqual((await store.listRuns({ backfill: 'contract' })).map((r) => r.id), [a.id]);
      assert.deepEqual((await store.listRuns({ states: ['running'] })).map((r) => r.id), []);
      assert.equal(await store.getRun('r_missing'), undefined);
      const partitions = await store.listPartitions(a.id);
      assert.deepEqual(partitions.map((p) => [p.index, p.lower, p.upper, p.label, p.cursor, p.state, p.fence]), [
        [0, null, [100], 'id < 100', null, 'pending', 0],
        [1, [100], null, 'id ≥ 100', null, 'pending', 0],
      ]);
    });

    withStore('transitions are compare-and-set, checked against the state machine, and logged', async (store) => {
      const run = await store.createRun(newRun());
      const running = await store.transitionRun(run.id, ['pending'], 'running', 'alice', 'go');
      assert.equal(running?.state, 'running');
      assert.ok(running?.startedAt);
      assert.equal(await store.transitionRun(run.id, ['pending'], 'running', 'bob', 'again'), undefined, 'CAS miss');
      await assert.rejects(store.transitionRun(run.id, ['running'], 'pending', 'bob', 'illegal'), /cannot become pending/);
      await store.setControl(run.id, { kind: 'pause', actor: 'carol', reason: 'busy', requestedAt: new Date().toISOString() });
      assert.equal((await store.getRun(run.id))?.control?.actor, 'carol');
      const paused = await store.transitionRun(run.id, ['running'], 'paused', 'carol', 'busy');
      assert.equal(paused?.control, null, 'honoured control is cleared');
      assert.equal(paused?.reason, 'busy');
      const done = await store.transitionRun(run.id, ['paused'], 'cancelled', 'dave', 'not needed');
      assert.ok(done?.finishedAt);
      const log = await store.listTransitions(run.id);
      assert.deepEqual(log.map((t) => [t.from, t.to, t.actor, t.reason]), [
        [null, 'pending', 'tester', 'contract test'],
        ['pending', 'running', 'alice', 'go'],
        ['running', 'paused', 'carol', 'busy'],
        ['paused', 'cancelled', 'dave', 'not needed'],
      ]);
      await assert.rejects(store.transitionRun('r_nope', ['pending'], 'running', 'x', 'y'), /no run "r_nope"/);
    });

    withStore('claims partitions in order under leases with growing fences', async (store) => {
      const run = await store.createRun(newRun());
      const first = await store.claimPartition(run.id, 'w1', 60_000);
      const second = await store.claimPartition(run.id, 'w2', 60_000);
      assert.deepEqual([first?.index, first?.fence, second?.index, second?.fence], [0, 1, 1, 1]);
      assert.equal(await store.claimPartition(run.id, 'w3', 60_000), undefined, 'no partition is leased twice');
      assert.equal(await store.renewLease(first!, 60_000), true);
      // w1 is declared dead: its partition is reclaimed with a higher fence.
      assert.equal(await store.expireLeases((owner) => owner === 'w1'), 1);
      const stolen = await store.claimPartition(run.id, 'w3', 60_000);
      assert.deepEqual([stolen?.index, stolen?.fence], [0, 2]);
      assert.equal(await store.renewLease(first!, 60_000), false, 'stale fence cannot renew');
      assert.equal(await store.releasePartition(first!, 'done'), false, 'stale fence cannot release');
      assert.equal(await store.releasePartition(stolen!, 'failed', 'boom'), true);
      const partitions = await store.listPartitions(run.id);
      assert.deepEqual([partitions[0]!.state, partitions[0]!.error, partitions[0]!.leaseOwner], ['failed', 'boom', null]);
      assert.equal(await store.resetFailedPartitions(run.id), 1);
      assert.equal((await store.listPartitions(run.id))[0]!.state, 'pending');
    });

    withStore('an expired lease is reclaimable', async (store) => {
      const run = await store.createRun(newRun());
      await store.claimPartition(run.id, 'w1', -1);
      const again = await store.claimPartition(run.id, 'w2', 60_000);
      assert.deepEqual([again?.index, again?.fence, again?.owner], [0, 2, 'w2']);
    });

    withStore('a checkpoint advances cursor and counts, records ledger and quarantine, returns control', async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
      await store.setControl(run.id, { kind: 'cancel', actor: 'op', reason: 'stop', requestedAt: new Date().toISOString() });
      const result = await store.transaction((tx) =>
        tx.checkpoint({
          previousCursor: null,
          lease,
          cursor: [42],
          done: false,
          delta: { received: 10, processed: 8, skipped: 1, failed: 1, quarantined: 1 },
          ledger: { namespace: 'ns', keys: ['1', '2', '3'] },
          quarantine: [{ itemKey: '7', errorClass: 'BAD', message: 'bad row', payload: '{"id":7}', attempts: 3 }],
          leaseMs: 60_000,
        }),
      );
      assert.equal(result.control?.kind, 'cancel');
      const [p] = await store.listPartitions(run.id);
      assert.deepEqual([p!.cursor, p!.batches, p!.counts], [[42], 1, { received: 10, processed: 8, skipped: 1, failed: 1, quarantined: 1 }]);
      assert.deepEqual((await store.getRun(run.id))?.counts, { received: 10, processed: 8, skipped: 1, failed: 1, quarantined: 1 });
      assert.deepEqual([...(await store.deliveredKeys('ns', ['1', '3', '9']))].sort(), ['1', '3']);
      const [q] = await store.listQuarantine({ runId: run.id });
      assert.deepEqual([q!.itemKey, q!.errorClass, q!.payload, q!.attempts, q!.status, q!.partitionIndex], ['7', 'BAD', '{"id":7}', 3, 'open', 0]);
      assert.deepEqual(await store.quarantineSummary({ runId: run.id }), [{ errorClass: 'BAD', count: 1 }]);
      // done: the partition is finished and its lease released
      await store.transaction((tx) => tx.checkpoint({ lease, previousCursor: [42], cursor: [99], done: true, delta: zero, leaseMs: 60_000 }));
      const [finished] = await store.listPartitions(run.id);
      assert.deepEqual([finished!.state, finished!.leaseOwner], ['done', null]);
    });

    withStore('a stale fence rolls back the whole batch transaction, user writes included', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_target (id INTEGER PRIMARY KEY, v TEXT)'));
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
      await store.expireLeases(() => true);
      await store.claimPartition(run.id, 'w2', 60_000);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.sql.execute('INSERT INTO contract_target (id, v) VALUES (?, ?)', [1, 'written by a zombie']);
          await tx.checkpoint({ lease, previousCursor: null, cursor: [1], done: false, delta: { ...zero, received: 1, processed: 1 }, ledger: { namespace: 'ns', keys: ['1'] }, leaseMs: 60_000 });
        }),
        LeaseLostError,
      );
      assert.deepEqual(await store.readConnection().query('SELECT * FROM contract_target'), []);
      assert.equal((await store.deliveredKeys('ns', ['1'])).size, 0);
      assert.equal((await store.listPartitions(run.id))[0]!.cursor, null);
    });

    withStore('a checkpoint whose batch was already committed (a lost acknowledgement) is refused and rolled back', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_ack (id INTEGER PRIMARY KEY)'));
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w1', 60_000))!;
      const batch = (id: number) => store.transaction(async (tx) => {
        await tx.sql.execute('INSERT INTO contract_ack (id) VALUES (?)', [id]);
        await tx.checkpoint({ lease, previousCursor: null, cursor: [10], done: false, delta: { ...zero, received: 10, processed: 10 }, leaseMs: 60_000 });
      });
      await batch(1);
      // The same batch again, as a retry after a connection lost right after COMMIT would send it.
      await assert.rejects(batch(2), (e: unknown) => (e as { code?: string }).code === 'CHECKPOINT_MOVED');
      assert.deepEqual((await store.readConnection().query<{ id: number }>('SELECT id FROM contract_ack')).map((r) => Number(r.id)), [1]);
      assert.equal((await store.getRun(run.id))?.counts.processed, 10);
    });

    withStore('rollback option and savepoints undo exactly what they should', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_sp (id INTEGER PRIMARY KEY)'));
      await store.transaction((tx) => tx.sql.execute('INSERT INTO contract_sp (id) VALUES (1)'), { rollback: true });
      assert.equal((await store.readConnection().query('SELECT * FROM contract_sp')).length, 0);
      await store.transaction(async (tx) => {
        await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (1)');
        await assert.rejects(tx.savepoint(async () => {
          await tx.sql.execute('INSERT INTO contract_sp (id) VALUES (2)');
          throw new Error('undo me');
        }), /undo me/);
        await tx.savepoint(() => tx.sql.execute('INSERT INTO contract_sp (id) VALUES (3)'));
      });
      assert.deepEqual((await store.readConnection().query<{ id: number }>('SELECT id FROM contract_sp ORDER BY id')).map((r) => r.id), [1, 3]);
    });

    withStore('the ledger is per namespace, permanent across runs, and handles large key sets', async (store) => {
      const a = await store.createRun(newRun());
      const lease = (await store.claimPartition(a.id, 'w', 60_000))!;
      const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
      await store.transaction((tx) => tx.checkpoint({ lease, previousCursor: null, cursor: null, done: false, delta: zero, ledger: { namespace: 'one', keys }, leaseMs: 60_000 }));
      // The same keys again (a re-delivery) are ignored, not an error.
      await store.transaction((tx) => tx.checkpoint({ lease, previousCursor: null, cursor: null, done: false, delta: zero, ledger: { namespace: 'one', keys: keys.slice(0, 10) }, leaseMs: 60_000 }));
      assert.equal((await store.deliveredKeys('one', keys)).size, 5000);
      assert.equal((await store.deliveredKeys('two', keys)).size, 0);
      const inTx = await store.transaction((tx) => tx.deliveredKeys('one', ['k1', 'zz']));
      assert.deepEqual([...inTx], ['k1']);
    });

    withStore('replay bookkeeping moves counts and closes entries', async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      await store.transaction((tx) => tx.checkpoint({
        previousCursor: null,
        lease, cursor: [5], done: false, delta: { received: 2, processed: 0, skipped: 0, failed: 2, quarantined: 2 }, leaseMs: 60_000,
        quarantine: [
          { itemKey: 'a', errorClass: 'X', message: 'm', payload: '{}', attempts: 1 },
          { itemKey: 'b', errorClass: 'Y', message: 'm', payload: '{}', attempts: 1 },
        ],
      }));
      const [a, b] = await store.listQuarantine({ runId: run.id });
      await store.transaction(async (tx) => {
        await tx.markReplayed(run.id, [a!.id], { namespace: 'ns', keys: ['a'] });
        await tx.recordReplayFailure(b!.id, 'Z', 'still broken');
      });
      assert.deepEqual((await store.getRun(run.id))?.counts, { received: 2, processed: 1, skipped: 0, failed: 1, quarantined: 1 });
      const open = await store.listQuarantine({ runId: run.id, status: 'open' });
      assert.deepEqual(open.map((q) => [q.itemKey, q.errorClass, q.message, q.attempts]), [['b', 'Z', 'still broken', 2]]);
      assert.equal((await store.deliveredKeys('ns', ['a'])).size, 1);
      assert.deepEqual((await store.listQuarantine({ runId: run.id, afterId: a!.id })).map((q) => q.itemKey), ['b']);
    });

    withStore('splits a partition only while its holder has not moved on', async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const write = (from: number | null, cursor: number) => store.transaction((tx) => tx.checkpoint({ lease, previousCursor: from === null ? null : [from], cursor: [cursor], done: false, delta: zero, leaseMs: 60_000 }));
      await write(null, 10);
      const created = await store.splitPartition(run.id, 0, { batches: 1, upper: [100] }, [50], 'id 50..100');
      assert.equal(await store.splitPartition(run.id, 0, { batches: 1, upper: [100] }, [50], null), undefined, 'split once, not twice');
      assert.equal(created, 2);
      const partitions = await store.listPartitions(run.id);
      assert.deepEqual(partitions.map((p) => [p.index, p.lower, p.upper, p.state]), [
        [0, null, [50], 'running'],
        [1, [100], null, 'pending'],
        [2, [50], [100], 'pending'],
      ]);
      // The holder learns its new end at its next checkpoint.
      const seen = await store.transaction((tx) => tx.checkpoint({ lease, previousCursor: [10], cursor: [20], done: false, delta: zero, leaseMs: 60_000 }));
      assert.deepEqual(seen.upper, [50]);
      assert.equal(seen.runState, 'pending');
      // Two more batches since the observation: refused.
      await write(20, 30);
      assert.equal(await store.splitPartition(run.id, 0, { batches: 1, upper: [50] }, [40], null), undefined);
      await store.releasePartition(lease, 'done');
      assert.equal(await store.splitPartition(run.id, 0, { batches: 3, upper: [50] }, [45], null), undefined, 'a done partition is not split');
    });

    withStore('concurrent writers never land inside each other\'s transactions', async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE contract_iso (id INTEGER PRIMARY KEY)'));
      const run = await store.createRun(newRun());
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const slow = store.transaction(async (tx) => {
        await tx.sql.execute('INSERT INTO contract_iso (id) VALUES (1)');
        await gate;
        throw new Error('roll back');
      });
      // Issued while the slow transaction is open; must not be rolled back with it.
      const control = store.setControl(run.id, { kind: 'pause', actor: 'x', reason: 'y', requestedAt: new Date().toISOString() });
      release();
      await assert.rejects(slow, /roll back/);
      await control;
      assert.equal((await store.getRun(run.id))?.control?.kind, 'pause');
      assert.equal((await store.readConnection().query('SELECT * FROM contract_iso')).length, 0);
    });
  });
}
