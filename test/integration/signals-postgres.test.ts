import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createSluice, defineBackfill, iterable } from '../../src/index.js';
import { postgresHealth } from '../../src/postgres.js';
import type { HealthSignal, Sluice } from '../../src/index.js';
import { openSqliteStore } from '../../src/stores/sqlite/index.js';
import { privateClusterUnavailable, startPgCluster } from '../helpers/pg-cluster.js';
import { tempDir, waitFor } from '../helpers/temp.js';

/** A long, slow backfill on an embedded store, throttled by `signal`: what the signal does shows in its decisions. */
async function throttledRun(signal: HealthSignal) {
  const { dir, cleanup } = await tempDir();
  const store = await openSqliteStore(`${dir}/store.db`);
  const def = defineBackfill<{ n: number }>({
    name: 'watched',
    source: iterable({
      *from(cursor) {
        for (let n = Number(cursor ?? 0) + 1; n <= 1_000_000; n++) yield { n };
      },
      cursorOf: (i) => i.n,
    }),
    key: (i) => i.n,
    batchSize: 50,
    throttle: { signals: [signal], signalIntervalMs: 100 },
    async process() {
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
  });
  const sluice: Sluice = createSluice({ store, backfills: [def] });
  const handle = await sluice.start('watched');
  const decision = (kind: string, pattern: RegExp) =>
    waitFor(
      async () => (await sluice.status(handle.runId)).decisions.find((d) => d.kind === kind && pattern.test(d.reason)),
      `a ${kind} decision matching ${pattern}`,
      60_000,
      100,
    );
  return {
    sluice,
    handle,
    decision,
    stop: async () => {
      handle.cancel('test', 'done');
      await handle.done;
      await sluice.close();
      await store.close();
      await cleanup();
    },
  };
}

describe('postgresHealth readings that need a server of their own', { skip: privateClusterUnavailable() }, () => {
  it('a replica whose replay is paused lags: the run waits, and goes on when replay resumes', async () => {
    const primary = await startPgCluster();
    const replica = await primary.startReplica();
    const writer = new pg.Client({ connectionString: primary.url });
    const standby = new pg.Client({ connectionString: replica.url });
    await Promise.all([writer.connect(), standby.connect()]);
    await writer.query('CREATE TABLE ticks (at timestamptz NOT NULL DEFAULT now())');
    // The primary keeps committing, so that a replica which does not replay falls behind.
    const ticker = setInterval(() => void writer.query('INSERT INTO ticks DEFAULT VALUES').catch(() => undefined), 50);
    const run = await throttledRun(postgresHealth({ connectionString: replica.url, maxReplicationLagMs: 1000 }));
    try {
      await waitFor(
        async () => {
          const exists = (await standby.query("SELECT to_regclass('ticks') IS NOT NULL AS ok")).rows[0].ok as boolean;
          return exists && (await standby.query('SELECT count(*)::int AS n FROM ticks')).rows[0].n > 0;
        },
        'the replica to replay',
        30_000,
        50,
      );
      await standby.query('SELECT pg_wal_replay_pause()');
      const paused = await run.decision('paused', /^postgres: replication lag \d+\.\d s > 1 s \(this replica\)$/);
      assert.ok(paused);
      assert.equal((await run.sluice.status(run.handle.runId)).throttle.state, 'paused');
      await standby.query('SELECT pg_wal_replay_resume()');
      await run.decision('resumed', /^postgres: db connections/);
    } finally {
      clearInterval(ticker);
      await run.stop();
      await Promise.all([writer.end(), standby.end()]);
      await replica.stop();
      await primary.stop();
    }
  });

  it('autovacuum working on the target table slows the run; it recovers when autovacuum stops', async () => {
    const cluster = await startPgCluster({ settings: ['autovacuum_naptime=1'] });
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    // A table autovacuum visits at once and crawls through (a tiny cost budget, long delays).
    await admin.query(`CREATE TABLE emails (id int PRIMARY KEY, body text) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
      autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)`);
    await admin.query("INSERT INTO emails SELECT i, repeat('x', 200) FROM generate_series(1, 50000) AS i");
    await admin.query('DELETE FROM emails WHERE id % 2 = 0');
    const run = await throttledRun(postgresHealth({ connectionString: cluster.url, table: 'emails' }));
    try {
      await run.decision('slowed', /^postgres: autovacuum is running on emails: batches halved to 25$/);
      // Stop it for good: no more autovacuum on the table, and the worker in progress cancelled.
      await admin.query('ALTER TABLE emails SET (autovacuum_enabled = false)');
      await admin.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'");
      await run.decision('recovered', /^postgres: db connections/);
    } finally {
      await run.stop();
      await admin.end();
      await cluster.stop();
    }
  });
});
