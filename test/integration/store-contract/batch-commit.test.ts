import assert from 'node:assert/strict';
import { LeaseLostError } from '../../../src/core/errors.js';
import { batch, control, leaseLeft, newRun, storeContract, withCode, zero } from './fixtures.js';

/** The BatchCommit port: a batch's writes, its checkpoint, the ledger and quarantine commit together or not at all. */
storeContract('Batch commit', (withStore) => {
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
});
