import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createSluice, defineBackfill, iterable, PermanentError, SloMonitor } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { verifySignature, WebhookNotifier } from '../../src/observe.js';
import type { AlertNotification, SloConfigInput } from '../../src/index.js';
import { NotificationDelivery } from '../../src/core/slo/notification-delivery.js';
import type { Webhook } from '../../src/core/slo/slo.js';
import { tempDir, waitFor } from '../helpers/temp.js';
import { webhookReceiver as receiver } from '../helpers/webhook-receiver.js';

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1 }));
const source = (n: number) =>
  iterable({
    from: (cursor: unknown) => items(n).filter((i) => i.id > ((cursor as number | null) ?? 0)),
    cursorOf: (i: { id: number }) => i.id,
  });

/** A clock that reads the system's time plus an offset the test moves (to let windows pass). */
function shiftedClock(): Clock & { shift(ms: number): void } {
  let offset = 0;
  return { ...systemClock, now: () => Date.now() + offset, shift: (ms) => (offset += ms) };
}

describe('the SLO monitor on a real store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('fires an error-ratio alert once across two evaluators, signs its webhook, and resolves when the window passes', async () => {
    const hook = await receiver();
    const slo: SloConfigInput = {
      objectives: [
        {
          name: 'errors',
          sli: { kind: 'error-ratio' },
          objective: 0.99,
          tiers: [{ name: 'fast', severity: 'page', burnRate: 14.4, longWindow: '1h', shortWindow: '5m' }],
        },
      ],
      webhooks: [{ url: hook.url, secretEnv: 'SLO_TEST_SECRET' }],
    };
    process.env.SLO_TEST_SECRET = 's3cret';
    const def = defineBackfill({
      name: 'failing',
      source: source(200),
      key: (i: { id: number }) => i.id,
      batchSize: 50,
      retry: { attempts: 1 },
      maxFailureRatio: 1,
      slo,
      process(batch) {
        if (batch.some((i) => i.id % 2 === 0)) throw new PermanentError('even ids are broken');
      },
    });
    const store = await openSqliteStore(join(dir, 'errors.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      const outcome = await (await sluice.start('failing')).done;
      assert.equal(outcome.counts.quarantined, 100);
      const clock = shiftedClock();
      const notifier = new WebhookNotifier();
      const evaluations: string[][] = [];
      const monitor = new SloMonitor({
        sluice,
        clock,
        logger: silentLogger,
        notifier,
        retryBaseDelayMs: 10,
        onEvaluated: (r) => evaluations.push(r.map((a) => a.state)),
      });
      const twin = new SloMonitor({ sluice, clock, logger: silentLogger, notifier, retryBaseDelayMs: 10 });

      const [reading] = await monitor.evaluate();
      assert.equal(reading!.state, 'firing');
      assert.ok(Math.abs(reading!.burnLong - 50) < 1e-9, `half the items failed against a 1 % budget: 50×, got ${reading!.burnLong}`);
      assert.equal((await twin.evaluate())[0]!.state, 'firing');
      assert.equal(await monitor.flush(10_000), 0, 'nothing left undelivered');
      assert.equal(await twin.flush(10_000), 0);
      assert.equal(hook.received().length, 1, 'the second evaluator lost the compare-and-set and sent nothing');
      const [firing] = hook.received();
      assert.equal(firing!.notification.state, 'firing');
      assert.match(firing!.notification.id, /^n_[0-9a-z]{15}$/);
      assert.equal(firing!.id, firing!.notification.id, 'the id in a header too');
      assert.deepEqual(
        (await store.listNotifications()).map((n) => [n.id, n.state, n.attempts]),
        [[firing!.notification.id, 'delivered', 1]],
      );
      assert.deepEqual(
        [firing!.notification.backfill, firing!.notification.slo, firing!.notification.tier, firing!.notification.severity],
        ['failing', 'errors', 'fast', 'page'],
      );
      assert.deepEqual(firing!.notification.windows, { long: '1h', short: '5m' });
      assert.match(
        firing!.notification.summary,
        /quarantined items burn the error budget at 50\.0× over 1h and 50\.0× over 5m \(14\.4× fires\)/,
      );
      assert.ok(verifySignature('s3cret', firing!.signature!, firing!.body), 'the signature verifies with the secret');
      assert.equal(verifySignature('wrong', firing!.signature!, firing!.body), false);
      assert.equal(
        verifySignature('s3cret', firing!.signature!, firing!.body.replace('firing', 'resolved')),
        false,
        'a tampered body fails',
      );
      assert.deepEqual(
        (await sluice.store.listAlerts('failing')).map((a) => a.state),
        ['firing'],
      );
      assert.deepEqual(evaluations, [['firing']]);

      clock.shift(5 * 60_000 + 1000); // the short window is empty now: the burn stopped
      assert.equal((await monitor.evaluate())[0]!.state, 'resolved');
      assert.equal(await monitor.flush(10_000), 0);
      assert.deepEqual(
        hook.received().map((r) => r.notification.state),
        ['firing', 'resolved'],
      );
      assert.notEqual(hook.received()[1]!.notification.id, firing!.notification.id, 'each transition has its own id');
      const events = await sluice.store.listAlertEvents({ backfill: 'failing' });
      assert.deepEqual(
        events.map((e) => `${e.from}→${e.to}`),
        ['inactive→firing', 'firing→resolved'],
      );
    } finally {
      delete process.env.SLO_TEST_SECRET;
      await sluice.close();
      await store.close();
      await hook.close();
    }
  });

  it('retries a notification on 5xx, 429 and no answer, from the outbox, and gives up on other 4xx at once', async () => {
    const flaky = await receiver([500, 429, 200]);
    const refusing = await receiver([403]);
    const silent = await receiver([0, 0]);
    const gone = await receiver();
    await gone.close(); // nothing listens on its port any more
    const store = await openSqliteStore(join(dir, 'retries.db'));
    try {
      const webhooks: Webhook[] = [
        { url: flaky.url, secret: undefined, secretEnv: undefined, attempts: 5, timeoutMs: 5_000 },
        { url: refusing.url, secret: 'k', secretEnv: undefined, attempts: 5, timeoutMs: 5_000 },
        { url: silent.url, secret: 'k', secretEnv: undefined, attempts: 2, timeoutMs: 200 },
        { url: gone.url, secret: undefined, secretEnv: undefined, attempts: 1, timeoutMs: 5_000 },
      ];
      const notification: AlertNotification = {
        id: 'n_test',
        backfill: 'b',
        slo: 's',
        tier: 't',
        severity: 'page',
        state: 'firing',
        since: new Date().toISOString(),
        burnRate: { threshold: 1, long: 2, short: null },
        windows: { long: '1h', short: null },
        summary: 'x',
        runs: [],
        paused: [],
      };
      await store.changeAlert(
        {
          backfill: 'b',
          slo: 's',
          tier: 't',
          severity: 'page',
          from: 'inactive',
          to: 'firing',
          sinceMs: Date.now(),
          burnLong: 2,
          burnShort: null,
          summary: 'x',
        },
        { notification, webhooks: webhooks.map((w) => w.url), owner: 'evaluator', leaseMs: 60_000 },
      );
      const delivery = new NotificationDelivery({
        store,
        clock: systemClock,
        logger: silentLogger,
        notifier: new WebhookNotifier(),
        owner: 'evaluator',
        webhooks: new Map([['b', webhooks]]),
        baseDelayMs: 5,
      });
      assert.equal(delivery.leaseMs, 10_000, 'a claim lasts twice the longest attempt');
      assert.equal(await delivery.drain(10_000), 0, 'every notification settled');
      assert.equal(flaky.requests.length, 3);
      assert.equal(flaky.received().length, 1);
      assert.equal(flaky.received()[0]!.signature, undefined, 'no secret, no signature');
      assert.equal(refusing.requests.length, 1, 'a 403 is not retried');
      assert.equal(silent.requests.length, 2, "an attempt without an answer in time is retried, up to the webhook's attempts");
      const rows = new Map((await store.listNotifications()).map((n) => [n.webhook, n]));
      assert.deepEqual([rows.get(flaky.url)!.state, rows.get(flaky.url)!.attempts, rows.get(flaky.url)!.lastError], ['delivered', 3, null]);
      assert.deepEqual(
        [rows.get(refusing.url)!.state, rows.get(refusing.url)!.attempts, rows.get(refusing.url)!.lastError],
        ['failed', 1, 'HTTP 403'],
      );
      assert.deepEqual(
        [rows.get(silent.url)!.state, rows.get(silent.url)!.attempts, rows.get(silent.url)!.lastError],
        ['failed', 2, 'no answer within 200 ms'],
      );
      assert.deepEqual(
        [rows.get(gone.url)!.state, rows.get(gone.url)!.lastError],
        ['failed', 'fetch failed: ECONNREFUSED'],
        'the network error says why',
      );
    } finally {
      await store.close();
      await Promise.all([flaky.close(), refusing.close(), silent.close()]);
    }
  });

  it('counts a notifier that throws as a failed attempt, retried later, and keeps delivering the rest', async () => {
    const store = await openSqliteStore(join(dir, 'throwing.db'));
    try {
      const webhooks: Webhook[] = ['http://a.test/hook', 'http://b.test/hook'].map((url) => ({
        url,
        secret: undefined,
        secretEnv: undefined,
        attempts: 3,
        timeoutMs: 1_000,
      }));
      const notification: AlertNotification = {
        id: 'n_throws',
        backfill: 'b',
        slo: 's',
        tier: 't',
        severity: 'page',
        state: 'firing',
        since: new Date().toISOString(),
        burnRate: { threshold: 1, long: 2, short: null },
        windows: { long: '1h', short: null },
        summary: 'x',
        runs: [],
        paused: [],
      };
      await store.changeAlert(
        {
          backfill: 'b',
          slo: 's',
          tier: 't',
          severity: 'page',
          from: 'inactive',
          to: 'firing',
          sinceMs: Date.now(),
          burnLong: 2,
          burnShort: null,
          summary: 'x',
        },
        { notification, webhooks: webhooks.map((w) => w.url), owner: 'evaluator', leaseMs: 60_000 },
      );
      const notifier = {
        attempt: async (webhook: Webhook) => {
          if (webhook.url.includes('a.test')) throw new Error('the notifier broke');
          return { ok: true as const, status: 204 };
        },
      };
      const delivery = new NotificationDelivery({
        store,
        clock: systemClock,
        logger: silentLogger,
        notifier,
        owner: 'evaluator',
        webhooks: new Map([['b', webhooks]]),
        baseDelayMs: 60_000,
      });
      const next = await delivery.pass();
      assert.ok(next !== null && next > 50_000 && next <= 60_000, `the retry is due in a minute, got ${next}`);
      const rows = await store.listNotifications();
      assert.deepEqual(
        rows.map((r) => [r.webhook, r.state, r.attempts, r.lastError]),
        [
          ['http://a.test/hook', 'pending', 1, 'the notifier broke'],
          ['http://b.test/hook', 'delivered', 1, null],
        ],
      );
    } finally {
      await store.close();
    }
  });

  it('delivers a notification an evaluator recorded and never sent, from the next evaluator', async () => {
    const hook = await receiver();
    const slo: SloConfigInput = {
      objectives: [
        {
          name: 'errors',
          sli: { kind: 'error-ratio' },
          objective: 0.99,
          tiers: [{ name: 'fast', severity: 'page', burnRate: 1, longWindow: '1h' }],
        },
      ],
      webhooks: [{ url: hook.url, secret: 'k', timeout: '1s' }],
    };
    const def = defineBackfill({
      name: 'orphaned',
      source: source(20),
      key: (i: { id: number }) => i.id,
      batchSize: 10,
      retry: { attempts: 1 },
      maxFailureRatio: 1,
      slo,
      process() {
        throw new PermanentError('all broken');
      },
    });
    const store = await openSqliteStore(join(dir, 'orphaned.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      await (await sluice.start('orphaned')).done;
      // The first evaluator moves the alert and records its notification, then is gone (it has no notifier: it never sends).
      const first = new SloMonitor({ sluice, clock: systemClock, logger: silentLogger, owner: 'gone' });
      assert.equal((await first.evaluate())[0]!.state, 'firing');
      const [recorded] = await store.listNotifications();
      assert.equal(recorded!.state, 'pending');
      const next = new SloMonitor({ sluice, clock: systemClock, logger: silentLogger, notifier: new WebhookNotifier() });
      assert.equal((await next.evaluate())[0]!.state, 'firing', 'no second transition');
      assert.equal(await next.flush(10_000), 0, "delivered once the first evaluator's claim (2 s) expired");
      await next.stop();
      assert.deepEqual(
        hook.received().map((r) => r.notification.id),
        [recorded!.id],
      );
      assert.ok(verifySignature('k', hook.received()[0]!.signature!, hook.received()[0]!.body));
      assert.equal((await store.listNotifications())[0]!.state, 'delivered');
    } finally {
      await sluice.close();
      await store.close();
      await hook.close();
    }
  });

  it('pauses the running run on a fast burn when pauseOnPage is set, with the reason in its transitions, and says so in the notification', async () => {
    const hook = await receiver();
    const def = defineBackfill({
      name: 'slow',
      source: source(100_000),
      key: (i: { id: number }) => i.id,
      batchSize: 10,
      slo: {
        objectives: [
          {
            name: 'latency',
            sli: { kind: 'batch-duration', thresholdSeconds: 0.01 },
            objective: 0.95,
            tiers: [{ name: 'fast', severity: 'page', burnRate: 10, longWindow: '1h', shortWindow: '5m' }],
          },
        ],
        pauseOnPage: true,
        webhooks: [{ url: hook.url }],
      },
      async process() {
        await new Promise((resolve) => setTimeout(resolve, 30));
      },
    });
    const store = await openSqliteStore(join(dir, 'slow.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      const handle = await sluice.start('slow');
      await waitFor(async () => (await store.batchWindow('slow', 0, 0)).batches >= 3, 'three committed batches');
      const monitor = new SloMonitor({ sluice, clock: systemClock, logger: silentLogger, notifier: new WebhookNotifier() });
      const [reading] = await monitor.evaluate();
      assert.equal(reading!.state, 'firing');
      const outcome = await handle.done;
      assert.equal(outcome.state, 'paused');
      assert.equal(await monitor.flush(10_000), 0);
      assert.deepEqual(
        hook.received().map((r) => [r.notification.runs, r.notification.paused]),
        [[[handle.runId], [handle.runId]]],
        'the notification went out after the pause, naming the run',
      );
      const transitions = await store.listTransitions(handle.runId);
      const paused = transitions.at(-1)!;
      assert.equal(paused.actor, 'slo');
      assert.match(paused.reason, /^SLO latency fast firing: batches over 0\.01 s burn the error budget at 20\.0× over 1h/);
    } finally {
      await sluice.close();
      await store.close();
      await hook.close();
    }
  });
});
