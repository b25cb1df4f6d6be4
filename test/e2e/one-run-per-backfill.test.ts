// One backfill, one run, whoever starts it: concurrent `sluice run` and `sluice run --detach` from
// many processes make one run on either store, a paused run is handed back rather than doubled,
// and a start after a success reports it instead of writing every row again.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { collect, jsonLines, runCli, startCli, type CliResult } from '../helpers/cli.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const ROWS = 1_500;
const STARTS = 10;

interface Target {
  dir: string;
  env: Record<string, string>;
  args: (...rest: string[]) => string[];
  /** Rows written, and the fewest and most writes of one row. */
  rows(): Promise<{ written: number; min: number; max: number }>;
  runs(): Promise<Array<{ id: string; state: string }>>;
  cleanup(): Promise<void>;
}

/**
 * A transactional backfill over every row (no `WHERE` that a second run would skip): a second run
 * of it would write every row twice, which `writes` counts.
 */
function writeConfig(dir: string, table: string): void {
  writeFileSync(
    join(dir, 'sluice.config.ts'),
    `import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: number }>({
    name: 'rewrite',
    source: sqlKeyset({ table: '${table}', key: 'id', columns: ['id'] }),
    delivery: 'transactional',
    batchSize: 100,
    concurrency: 2,
    async process(batch, ctx) {
      await ctx.tx!.executeMany('UPDATE ${table} SET writes = writes + 1 WHERE id = ?', batch.map((r) => [r.id]));
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
  }),
];
`,
  );
}

async function sqliteTarget(): Promise<Target> {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, 'store.db');
  const db = new Database(path);
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, writes INTEGER NOT NULL DEFAULT 0)');
  db.prepare('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) INSERT INTO items (id) SELECT i FROM n').run(
    ROWS,
  );
  db.close();
  writeConfig(dir, 'items');
  const read = <T>(sql: string) => {
    const conn = new Database(path, { readonly: true });
    try {
      return conn.prepare(sql).all() as T[];
    } finally {
      conn.close();
    }
  };
  return {
    dir,
    env: {},
    args: (...rest) => [...rest, '--db', path],
    rows: async () =>
      read<{ written: number; min: number; max: number }>(
        'SELECT COUNT(*) FILTER (WHERE writes > 0) AS written, MIN(writes) AS min, MAX(writes) AS max FROM items',
      )[0]!,
    runs: async () => read<{ id: string; state: string }>('SELECT id, state FROM sluice_runs ORDER BY created_at'),
    cleanup,
  };
}

async function postgresTarget(): Promise<Target> {
  const { schema, cleanup: dropSchema } = await testSchema('once');
  const { dir, cleanup: removeDir } = await tempDir();
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  await admin.query(`CREATE TABLE "${schema}".items (id bigint PRIMARY KEY, writes int NOT NULL DEFAULT 0)`);
  await admin.query(`INSERT INTO "${schema}".items (id) SELECT generate_series(1, ${ROWS})`);
  writeConfig(dir, `${schema}.items`);
  return {
    dir,
    env: { SLUICE_PG_SCHEMA: schema },
    args: (...rest) => [...rest, '--db', TEST_PG],
    rows: async () =>
      (
        await admin.query(
          `SELECT COUNT(*) FILTER (WHERE writes > 0)::int AS written, MIN(writes) AS min, MAX(writes) AS max FROM "${schema}".items`,
        )
      ).rows[0],
    runs: async () => (await admin.query(`SELECT id, state FROM "${schema}".sluice_runs ORDER BY created_at`)).rows,
    cleanup: async () => {
      await admin.end();
      await dropSchema();
      await removeDir();
    },
  };
}

/** Starts `sluice …args` in `count` processes at the same instant and waits for all of them. */
function together(t: Target, count: number, ...args: string[]): Promise<CliResult[]> {
  return Promise.all(Array.from({ length: count }, () => collect(startCli(t.args(...args), { cwd: t.dir, env: t.env }))));
}

const explain = (results: readonly CliResult[]) =>
  results.map((r, i) => `#${i} exit ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`).join('\n');

for (const [store, target] of [
  ['SQLite', sqliteTarget],
  ['PostgreSQL', postgresTarget],
] as const) {
  describe(`one run per backfill on ${store} (real processes)`, () => {
    it(`${STARTS} simultaneous \`sluice run\`: one run, every row written once; a start after the success does nothing`, async () => {
      const t = await target();
      try {
        const results = await together(t, STARTS, 'run', 'rewrite', '--json');
        assert.ok(
          results.every((r) => r.code === 0),
          explain(results),
        );
        const runs = await t.runs();
        assert.deepEqual(
          runs.map((r) => r.state),
          ['succeeded'],
          `one run: ${JSON.stringify(runs)}`,
        );
        assert.deepEqual(await t.rows(), { written: ROWS, min: 1, max: 1 });
        for (const r of results) {
          const ids = jsonLines(r.stdout)
            .map((l) => l.runId)
            .filter((id) => id !== undefined);
          assert.ok(
            ids.every((id) => id === runs[0]!.id),
            `every process speaks of run ${runs[0]!.id}: ${JSON.stringify(ids)}`,
          );
        }

        // Started again after the success (as after a kill that landed after the last commit): it says so and writes nothing.
        const again = await runCli(t.args('run', 'rewrite'), { cwd: t.dir, env: t.env });
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(
          jsonLines(again.stdout).map((l) => [l.event, l.runId]),
          [['already-succeeded', runs[0]!.id]],
        );
        assert.deepEqual(await t.rows(), { written: ROWS, min: 1, max: 1 });
        assert.equal((await t.runs()).length, 1);

        // Asked for on purpose, it runs again.
        const rerun = await runCli(t.args('run', 'rewrite', '--new'), { cwd: t.dir, env: t.env });
        assert.equal(rerun.code, 0, rerun.stderr);
        assert.deepEqual(await t.rows(), { written: ROWS, min: 2, max: 2 });
      } finally {
        await t.cleanup();
      }
    });

    it(`${STARTS} simultaneous \`sluice run --detach\`: one pending run; a paused run is handed back, never doubled`, async () => {
      const t = await target();
      try {
        const results = await together(t, STARTS, 'run', 'rewrite', '--detach');
        assert.ok(
          results.every((r) => r.code === 0),
          explain(results),
        );
        const ids = new Set(results.map((r) => String(jsonLines(r.stdout)[0]?.runId)));
        const runs = await t.runs();
        assert.deepEqual(
          runs.map((r) => r.state),
          ['pending'],
          `one run: ${JSON.stringify(runs)}`,
        );
        assert.deepEqual([...ids], [runs[0]!.id], 'every process was answered with the same run');
        const outcomes = results.map((r) => jsonLines(r.stdout)[0]!.outcome).sort();
        assert.deepEqual(outcomes, ['created', ...Array<string>(STARTS - 1).fill('open')]);

        // Some of it runs here, then it is paused: two more --detach hand it back once and record nothing new.
        const partial = await runCli(t.args('resume', runs[0]!.id, '--max-batches', '3'), { cwd: t.dir, env: t.env });
        assert.equal(partial.code, 0, partial.stderr);
        assert.deepEqual(
          (await t.runs()).map((r) => r.state),
          ['paused'],
        );
        const first = await runCli(t.args('run', 'rewrite', '--detach'), { cwd: t.dir, env: t.env });
        const second = await runCli(t.args('run', 'rewrite', '--detach'), { cwd: t.dir, env: t.env });
        assert.deepEqual(
          [first, second].map((r) => [r.code, jsonLines(r.stdout)[0]!.outcome]),
          [
            [0, 'requeued'],
            [0, 'open'],
          ],
        );
        assert.deepEqual(
          (await t.runs()).map((r) => r.state),
          ['pending'],
          'one open run, pending for the workers',
        );

        const finish = await runCli(t.args('resume', runs[0]!.id), { cwd: t.dir, env: t.env });
        assert.equal(finish.code, 0, finish.stderr);
        assert.deepEqual(await t.rows(), { written: ROWS, min: 1, max: 1 });
      } finally {
        await t.cleanup();
      }
    });
  });
}
