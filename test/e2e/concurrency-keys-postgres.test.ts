import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { collect, jsonLines, runCli, startCli } from '../helpers/cli.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

/**
 * A backfill limited per installation (1 running run) and per org (2 leased partitions), whose
 * `process` records, in its own transaction, when each batch ran and for which run.
 */
async function setup(prefix: string) {
  const { schema, cleanup: dropSchema } = await testSchema(prefix);
  const { dir, cleanup: removeDir } = await tempDir();
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY)`);
  await admin.query(`INSERT INTO "${schema}".items SELECT i FROM generate_series(1, 600) AS i`);
  await admin.query(
    `CREATE TABLE "${schema}".activity (run_id text NOT NULL, installation text NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz NOT NULL, items int NOT NULL)`,
  );
  writeFileSync(
    join(dir, 'sluice.config.ts'),
    `import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: string }>({
    name: 'installation-sync',
    source: sqlKeyset({ table: '${schema}.items', key: 'id' }),
    delivery: 'transactional',
    batchSize: 50,
    concurrency: 3,
    concurrencyKeys: { installationId: { runs: 1 }, orgId: { partitions: 2 } },
    async process(batch, ctx) {
      await ctx.tx!.execute(\`INSERT INTO "${schema}".activity SELECT ?, ?, clock_timestamp(), clock_timestamp() + interval '15 milliseconds', ?\`,
        [ctx.run.id, String(ctx.run.params.extra?.installationId), batch.length]);
      await ctx.tx!.query('SELECT pg_sleep(0.015)');
    },
  }),
];
`,
  );
  const env = { SLUICE_PG_SCHEMA: schema };
  const args = (...rest: string[]) => [...rest, '--db', TEST_PG];
  return {
    dir,
    env,
    args,
    admin,
    schema,
    cleanup: async () => {
      await admin.end();
      await dropSchema();
      await removeDir();
    },
  };
}

describe('concurrency keys across worker processes (PostgreSQL)', () => {
  it('two triggers for the same installation at once: one runs, the other queues behind it; the org never has more than 2 partitions at once', async () => {
    const t = await setup('keys');
    try {
      // Two triggers for installation 42 at the same moment, one for 43 of the same org.
      const triggers = await Promise.all(
        ['42', '42', '43'].map((installation) =>
          runCli(
            t.args('run', 'installation-sync', '--detach', '--new', '--param', `installationId=${installation}`, '--param', 'orgId=acme'),
            { cwd: t.dir, env: t.env },
          ),
        ),
      );
      for (const r of triggers) assert.equal(r.code, 0, r.stderr);
      const [a, b, c] = triggers.map((r) => String(jsonLines(r.stdout)[0]!.runId));

      const workers = await Promise.all(
        [0, 1, 2].map(() => collect(startCli(t.args('worker', '--exit-when-idle', '--poll', '100ms'), { cwd: t.dir, env: t.env }))),
      );
      for (const w of workers) assert.equal(w.code, 0, w.stderr);

      for (const runId of [a, b, c]) {
        const status = JSON.parse((await runCli(t.args('status', runId!, '--json'), { cwd: t.dir, env: t.env })).stdout) as {
          run: { state: string; counts: { processed: number }; keys: Record<string, string> };
        };
        assert.equal(status.run.state, 'succeeded', runId);
        assert.equal(status.run.counts.processed, 600);
      }
      // The two runs of installation 42 never overlapped: one ran, then the other.
      const { rows: spans } = await t.admin.query<{ run_id: string; first: Date; last: Date }>(
        `SELECT run_id, MIN(started_at) AS first, MAX(ended_at) AS last FROM "${t.schema}".activity WHERE installation = '42' GROUP BY run_id ORDER BY first`,
      );
      assert.equal(spans.length, 2);
      assert.ok(spans[0]!.last.getTime() <= spans[1]!.first.getTime(), `runs of installation 42 overlapped: ${JSON.stringify(spans)}`);
      // The org's batches never ran more than 2 at once, over every worker and both installations:
      // at the start of each batch, count the batches under way (started, not yet ended).
      const {
        rows: [peak],
      } = await t.admin.query<{ peak: number }>(
        `SELECT MAX(n)::int AS peak FROM (SELECT (SELECT COUNT(*) FROM "${t.schema}".activity b WHERE b.started_at <= a.started_at AND b.ended_at > a.started_at) AS n FROM "${t.schema}".activity a) x`,
      );
      assert.ok(peak!.peak <= 2, `at most 2 batches of org acme at once, saw ${peak!.peak}`);
      // The queued run's transitions say it waited, and who started it.
      const queued = spans[1]!.run_id;
      const transitions = (
        JSON.parse((await runCli(t.args('status', queued, '--json'), { cwd: t.dir, env: t.env })).stdout) as {
          transitions: Array<{ to: string; actor: string }>;
        }
      ).transitions;
      assert.deepEqual(
        transitions.map((x) => x.to),
        ['pending', 'running', 'succeeded'],
      );
    } finally {
      await t.cleanup();
    }
  });

  it('`sluice status` shows a queued run and what it waits for; `sluice cancel --key` cancels every open run of the key', async () => {
    const t = await setup('cancel');
    try {
      const run = (installation: string) =>
        runCli(
          t.args('run', 'installation-sync', '--detach', '--new', '--param', `installationId=${installation}`, '--param', 'orgId=acme'),
          { cwd: t.dir, env: t.env },
        );
      const ids = [];
      for (const installation of ['42', '42', '43']) {
        const r = await run(installation);
        assert.equal(r.code, 0, r.stderr);
        ids.push(String(jsonLines(r.stdout)[0]!.runId));
      }
      // Start the first as a worker would, then look at the second.
      await t.admin.query(`UPDATE "${t.schema}".sluice_runs SET state = 'running', started_at = now() WHERE id = $1`, [ids[0]]);
      const shown = await runCli(['status', ids[1]!, '--db', TEST_PG], { cwd: t.dir, env: t.env });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`queued behind run ${ids[0]}: installationId=42 has 1 running run \\(at most 1\\)`));
      assert.match(shown.stdout, /keys: installationId=42, orgId=acme/);

      const missing = await runCli(t.args('run', 'installation-sync', '--detach'), { cwd: t.dir, env: t.env });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /limits concurrency per installationId, so every run needs one/);
      assert.match(missing.stderr, /--param installationId=<value>/);

      const bad = await runCli(t.args('cancel', '--key', 'installationId'), { cwd: t.dir, env: t.env });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--key must look like name=value/);

      const cancelled = await runCli(t.args('cancel', '--key', 'installationId=42', '--reason', 'installation deleted'), {
        cwd: t.dir,
        env: t.env,
      });
      assert.equal(cancelled.code, 0, cancelled.stderr);
      const states = await t.admin.query<{ id: string; state: string; control: { kind: string } | null }>(
        `SELECT id, state, control FROM "${t.schema}".sluice_runs ORDER BY created_at`,
      );
      const byId = new Map(states.rows.map((r) => [r.id, r]));
      // The "running" one (no live worker holds it) is cancelled at once, like the pending one.
      assert.equal(byId.get(ids[0]!)!.state, 'cancelled');
      assert.equal(byId.get(ids[1]!)!.state, 'cancelled');
      assert.equal(byId.get(ids[2]!)!.state, 'pending', 'another installation is left alone');
      const log = await t.admin.query<{ reason: string }>(
        `SELECT reason FROM "${t.schema}".sluice_transitions WHERE run_id = $1 ORDER BY id DESC LIMIT 1`,
        [ids[1]],
      );
      assert.match(log.rows[0]!.reason, /installation deleted \(installationId=42\)/);
    } finally {
      await t.cleanup();
    }
  });
});
