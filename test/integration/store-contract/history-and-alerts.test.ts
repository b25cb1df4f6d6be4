import assert from 'node:assert/strict';
import type { Counts } from '../../../src/core/counts.js';
import type { PartitionLease } from '../../../src/core/run.js';
import { waitFor } from '../../helpers/temp.js';
import { batch, firing, newRun, storeContract, zero } from './fixtures.js';

/** The BatchHistory, SloAlerts and AlertOutbox ports: committed batches, alert states and their notifications. */
storeContract('Batch history, alerts and their outbox', (withStore) => {
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
      await store.changeAlert({ ...change, from: 'firing', to: 'firing' }, { ...notify, notification: { ...notification, id: 'n_same' } }),
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
    assert.equal(await store.settleNotification('e1', 'n_orphan', 'http://a.test/hook', { outcome: 'delivered' }), false, 'nor settle it');
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
