import assert from 'node:assert/strict';
import { batch, control, newRun, options, storeContract, withCode, zero } from './fixtures.js';

/** The RunStore port: creating runs once, reading and listing them, transitions, control requests, concurrency keys, retunes and throttle decisions. */
storeContract('Runs', (withStore) => {
  withStore(
    'createRunOnce: one open run per backfill and parameters, whatever their key order; a success is found, not redone',
    async (store) => {
      const input = (params: Record<string, unknown>, since?: string) => newRun({ params: { ...(since ? { since } : {}), extra: params } });
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
});
