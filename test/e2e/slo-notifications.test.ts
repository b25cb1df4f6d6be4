import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { openSqliteStore } from '../../src/stores/sqlite/index.js';
import { verifySignature } from '../../src/observe.js';
import type { Store } from '../../src/core/store.js';
import { runCli, startCli } from '../helpers/cli.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const SECRET = 'hook-secret';

/**
 * A backfill that quarantines half its items. Its SLO (and webhook) exist only when HOOK_URL is set,
 * so that `sluice run` fills the batch history without evaluating, and the alert first fires in
 * `sluice slo status --evaluate`.
 */
function writeConfig(dir: string): void {
  writeFileSync(
    join(dir, 'sluice.config.ts'),
    `import { defineBackfill, iterable, PermanentError } from '${SLUICE}';

const items = Array.from({ length: 40 }, (_, i) => ({ id: i + 1 }));
const hook = process.env.HOOK_URL;

export default [
  defineBackfill<{ id: number }>({
    name: 'scores',
    source: iterable({ from: (cursor: unknown) => items.filter((i) => i.id > Number(cursor ?? 0)), cursorOf: (i: { id: number }) => i.id }),
    key: (i) => i.id,
    batchSize: 10,
    retry: { attempts: 1 },
    maxFailureRatio: 1,
    process(batch) {
      if (batch.some((i) => i.id % 2 === 0)) throw new PermanentError('even ids are broken');
    },
    ...(hook ? { slo: {
      objectives: [{ name: 'errors', sli: { kind: 'error-ratio' as const }, objective: 0.99, tiers: [{ name: 'fast', severity: 'page' as const, burnRate: 14.4, longWindow: '1h' }] }],
      webhooks: [{ url: hook, secretEnv: 'HOOK_SECRET', timeout: '2s' }],
    } } : {}),
  }),
];
`,
  );
}

/** Runs the backfill (no SLO loaded: nothing evaluates) so that the history burns the budget. */
async function fillHistory(dir: string, db: string, env: Record<string, string>): Promise<void> {
  const run = await runCli(['run', 'scores', '--db', db], { cwd: dir, env });
  assert.ok(run.code === 0 || run.code === 1, `sluice run: exit ${run.code}\n${run.stderr}`);
}

async function assertOneFiringTransition(store: Store): Promise<void> {
  assert.deepEqual(
    (await store.listAlertEvents({ backfill: 'scores' })).map((e) => `${e.from}→${e.to}`),
    ['inactive→firing'],
  );
}

describe('CLI: SLO alert notifications cannot be lost', () => {
  it('slo status --evaluate on PostgreSQL delivers the alert it fires exactly once, retrying after a 500, signed and with a stable id', {
    timeout: 180_000,
  }, async () => {
    const { dir, cleanup } = await tempDir();
    const { schema, cleanup: dropSchema } = await testSchema('slonotify');
    const hook = await webhookReceiver([500]);
    const env = { SLUICE_PG_SCHEMA: schema };
    const withHook = { ...env, HOOK_URL: hook.url, HOOK_SECRET: SECRET };
    try {
      writeConfig(dir);
      await fillHistory(dir, TEST_PG, env);

      const evaluate = await runCli(['slo', 'status', '--evaluate', '--json', '--db', TEST_PG], { cwd: dir, env: withHook });
      assert.equal(evaluate.code, 0, evaluate.stderr);
      assert.deepEqual(
        hook.requests.map((r) => r.status),
        [500, 200],
        'one retry after the 500, before the command exits',
      );
      const shown = JSON.parse(evaluate.stdout) as { alerts: Array<{ state: string }>; undeliveredNotifications: number };
      assert.deepEqual(
        shown.alerts.map((a) => a.state),
        ['firing'],
      );
      assert.equal(shown.undeliveredNotifications, 0);
      const [delivered] = hook.received();
      assert.equal(hook.received().length, 1, 'exactly one notification received with 2xx');
      assert.match(delivered!.notification.id, /^n_[0-9a-z]{15}$/);
      assert.deepEqual(
        hook.requests.map((r) => [r.id, r.notification.id]),
        [
          [delivered!.notification.id, delivered!.notification.id],
          [delivered!.notification.id, delivered!.notification.id],
        ],
        'the same id on every attempt, in the header and the body',
      );
      assert.deepEqual(
        [delivered!.notification.backfill, delivered!.notification.slo, delivered!.notification.tier, delivered!.notification.state],
        ['scores', 'errors', 'fast', 'firing'],
      );
      assert.ok(verifySignature(SECRET, delivered!.signature!, delivered!.body), 'the signature verifies');
      assert.equal(verifySignature('another secret', delivered!.signature!, delivered!.body), false);

      // A second evaluation: the alert is still firing, no new transition, nothing sent again.
      const again = await runCli(['slo', 'status', '--evaluate', '--json', '--db', TEST_PG], { cwd: dir, env: withHook });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(hook.requests.length, 2);

      const store = await openPostgresStore({ connectionString: TEST_PG, schema });
      try {
        await assertOneFiringTransition(store);
        assert.deepEqual(
          (await store.listNotifications()).map((n) => [n.id, n.webhook, n.state, n.attempts, n.lastError]),
          [[delivered!.notification.id, hook.url, 'delivered', 2, null]],
        );
      } finally {
        await store.close();
      }
    } finally {
      await hook.close();
      await dropSchema();
      await cleanup();
    }
  });

  it('a notification whose evaluator was killed mid-delivery is delivered by the next evaluator', { timeout: 180_000 }, async () => {
    const { dir, cleanup } = await tempDir();
    // The first request is never answered: the evaluator is killed while it waits.
    const hook = await webhookReceiver([0]);
    const db = join(dir, 'store.db');
    const withHook = { HOOK_URL: hook.url, HOOK_SECRET: SECRET };
    try {
      writeConfig(dir);
      await fillHistory(dir, db, {});

      const first = startCli(['slo', 'status', '--evaluate', '--json', '--db', db], { cwd: dir, env: withHook });
      const exited = new Promise<void>((resolve) => first.once('close', () => resolve()));
      await Promise.race([
        hook.waitForRequests(1),
        exited.then(() => assert.fail('the first evaluator exited without sending the notification')),
      ]);
      first.kill('SIGKILL');
      await exited;
      const left = await runCli(['slo', 'status', '--json', '--db', db], { cwd: dir });
      assert.equal(left.code, 0, left.stderr);
      const shownLeft = (JSON.parse(left.stdout) as { notifications: Array<{ id: string; state: string; attempts: number }> })
        .notifications;
      assert.deepEqual(
        shownLeft.map((n) => [n.id, n.state, n.attempts]),
        [[hook.requests[0]!.notification.id, 'pending', 0]],
        'slo status shows the notification left behind',
      );

      const next = await runCli(['slo', 'status', '--evaluate', '--json', '--db', db], { cwd: dir, env: withHook });
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual(
        hook.requests.map((r) => r.status),
        [0, 200],
      );
      const shownNext = JSON.parse(next.stdout) as { undeliveredNotifications: number; notifications: unknown[] };
      assert.equal(shownNext.undeliveredNotifications, 0);
      assert.deepEqual(shownNext.notifications, []);
      const [sent, delivered] = hook.requests;
      assert.equal(delivered!.notification.id, sent!.notification.id, 'the same notification, not a new transition');
      assert.ok(verifySignature(SECRET, delivered!.signature!, delivered!.body));

      const store = await openSqliteStore(db);
      try {
        await assertOneFiringTransition(store);
        assert.deepEqual(
          (await store.listNotifications()).map((n) => [n.id, n.state, n.attempts]),
          [[sent!.notification.id, 'delivered', 1]],
          'the killed attempt was never settled',
        );
      } finally {
        await store.close();
      }
    } finally {
      await hook.close();
      await cleanup();
    }
  });
});
