import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUPPORTED_NODE = Number(process.versions.node.split('.')[0]) >= 22;
const version = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * Sluice as a service team gets it: the packed tarball installed by npm into a new app outside the
 * repository (its dependencies from the registry, better-sqlite3 built as on a user's machine),
 * the app type-checked strictly (skipLibCheck off, so every type the public API exposes must come
 * with the package) and run. The app uses every entry point as the docs show them.
 */
describe('the packed package in a new app', () => {
  let app: string;
  let cleanup: () => Promise<void>;
  let pgSchema: { schema: string; cleanup: () => Promise<void> };
  let installLog: string;

  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is missing: run `npm run build` first (npm test does)');
    ({ dir: app, cleanup } = await tempDir('sluice-consumer-'));
    pgSchema = await testSchema('consumer');
    // The build is current (npm test builds first): pack it as it is, without running prepare again.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: ROOT });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'consumer-app',
          private: true,
          type: 'module',
          dependencies: { sluice: `file:./${packed!.filename}`, kysely: version('kysely') },
          devDependencies: { typescript: version('typescript'), '@types/node': version('@types/node') },
          // The better-sqlite3 this checkout was tested with, so that its binary below fits.
          overrides: { 'better-sqlite3': version('better-sqlite3') },
        },
        null,
        2,
      ),
    );
    // better-sqlite3's installer looks for its binary in a local directory before it downloads or
    // compiles (prebuild-install's local prebuilds, as a company mirror serves them): hand it the
    // one this checkout's install compiled, so that the test need not compile SQLite again.
    const prebuilds = join(app, 'prebuilds');
    mkdirSync(prebuilds);
    await run('tar', [
      '-czf',
      join(
        prebuilds,
        `better-sqlite3-v${version('better-sqlite3')}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`,
      ),
      '-C',
      join(ROOT, 'node_modules', 'better-sqlite3'),
      'build/Release/better_sqlite3.node',
    ]);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: false,
            outDir: 'out',
            types: ['node'],
          },
          include: ['app.ts'],
        },
        null,
        2,
      ),
    );
    writeFileSync(join(app, 'app.ts'), APP);
    // At the warn level, so that an engine warning (EBADENGINE) shows in the log the test reads.
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'], {
      cwd: app,
      timeout: 280_000,
      env: { ...process.env, npm_config_better_sqlite3_local_prebuilds: prebuilds },
    });
    installLog = `${install.stdout}\n${install.stderr}`;
  });
  after(async () => {
    await cleanup?.();
    await pgSchema?.cleanup();
  });

  it('type-checks with skipLibCheck off, and runs a backfill on each store, the server and the metrics from the public entry points', async () => {
    await run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', app], { cwd: app }).catch((error: { stdout?: string }) => {
      assert.fail(`the app does not type-check against the package:\n${error.stdout ?? String(error)}`);
    });
    const { stdout } = await run(process.execPath, [join(app, 'out', 'app.js')], {
      cwd: app,
      env: { ...process.env, PG_URL: TEST_PG, PG_SCHEMA: pgSchema.schema },
    });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), {
      sqlite: { state: 'succeeded', processed: 50, rows: 50 },
      postgres: { state: 'succeeded', processed: 50 },
      kysely: { state: 'succeeded', processed: 50, rows: 50 },
      server: { healthz: 200, runs: 401 },
      metrics: true,
      rules: true,
    });
  });

  it("installs without an engine warning on a supported Node, and with no native binary but SQLite's driver", () => {
    const engineWarnings = installLog.split('\n').filter((line) => /EBADENGINE/.test(line));
    if (SUPPORTED_NODE) {
      assert.deepEqual(engineWarnings, [], `npm install on Node ${process.versions.node} warned about engines`);
    } else {
      // Node 20 (end of life) is below the package's engines: npm must say so for sluice itself.
      assert.ok(
        engineWarnings.some((line) => /package: 'sluice@/.test(line)),
        `no engine warning for sluice on Node ${process.versions.node}:\n${installLog}`,
      );
    }
    // Runtime dependencies only: the app's own dev dependencies (typescript, @types/node) have no binaries.
    const natives = nativeFiles(join(app, 'node_modules')).map((file) => file.slice(join(app, 'node_modules').length + 1));
    assert.deepEqual(
      natives.filter((file) => !file.startsWith('better-sqlite3/')),
      [],
      "a native binary besides better-sqlite3's",
    );
    assert.ok(natives.includes('better-sqlite3/build/Release/better_sqlite3.node'), natives.join(', '));
    for (const compiler of ['tsx', 'esbuild', '@esbuild'])
      assert.ok(!existsSync(join(app, 'node_modules', compiler)), `${compiler} is installed with the package`);
  });

  it("answers sluice --version with the package's version", async () => {
    const { stdout } = await run(join(app, 'node_modules', '.bin', 'sluice'), ['--version'], { cwd: app });
    assert.equal(stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  for (const store of ['sqlite', 'postgres'] as const) {
    it(`runs a backfill from a TypeScript sluice.config.ts with the installed sluice command, on ${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`, async () => {
      const cwd = join(app, `cli-${store}`);
      mkdirSync(cwd);
      writeFileSync(join(cwd, 'sluice.config.ts'), CONFIG);
      const db = store === 'sqlite' ? join(cwd, 'store.db') : TEST_PG;
      const { stdout } = await run(join(app, 'node_modules', '.bin', 'sluice'), ['run', 'numbers', '--db', db, '--json'], {
        cwd,
        env: { ...process.env, SLUICE_PG_SCHEMA: pgSchema.schema },
      }).catch((error: { stdout?: string; stderr?: string }) => assert.fail(`sluice run failed:\n${error.stderr ?? String(error)}`));
      const summary = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((e) => e.event === 'summary');
      assert.equal(summary?.state, 'succeeded', stdout);
      const delivered = readFileSync(join(cwd, 'delivered.txt'), 'utf8').trim().split('\n').map(Number);
      assert.deepEqual(
        [...new Set(delivered)].sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
    });
  }
});

/** The `.node` files under a directory (the compiled addons npm installed). */
function nativeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.node'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** A config in TypeScript proper (an interface, an enum, annotations), loaded by the installed CLI. */
const CONFIG = `
import { appendFileSync } from 'node:fs';
import { defineBackfill, iterable } from 'sluice';

interface Numbered { id: number }
enum Output { File = 'delivered.txt' }

const numbers: Numbered[] = Array.from({ length: 30 }, (_, i) => ({ id: i + 1 }));

export default [
  defineBackfill<Numbered>({
    name: 'numbers',
    source: iterable({ from: (after: unknown) => numbers.filter((n) => n.id > Number(after ?? 0)), cursorOf: (n: Numbered) => n.id }),
    key: (n) => String(n.id),
    delivery: 'at-least-once',
    batchSize: 10,
    process(batch) {
      appendFileSync(Output.File, batch.map((n) => n.id).join('\\n') + '\\n');
    },
  }),
];
`;

/** The app: what a user writes, importing only the package's entry points. */
const APP = `
import { createSluice, defineBackfill, iterable, type BackfillDefinition } from 'sluice';
import { openSqliteStore } from 'sluice/sqlite';
import { openPostgresStore, pgTransactionPool } from 'sluice/postgres';
import { Kysely, PostgresDialect } from 'kysely';
import { buildServer } from 'sluice/server';
import { RunMetrics, sloRulesYaml } from 'sluice/observe';

interface Customer { id: number; email: string }

const customerSource = () => iterable({
  from: (after: unknown) => Array.from({ length: Math.max(0, 50 - Number(after ?? 0)) }, (_, i) => ({ id: Number(after ?? 0) + i + 1, email: 'c' + (Number(after ?? 0) + i + 1) + '@example.com' })),
  cursorOf: (c: Customer) => c.id,
});

const customers: BackfillDefinition<Customer> = defineBackfill<Customer>({
  name: 'customers',
  source: customerSource(),
  key: (c) => String(c.id),
  batchSize: 10,
  delivery: 'transactional',
  slo: { objectives: [{ name: 'latency', sli: { kind: 'batch-duration', thresholdSeconds: 5 }, objective: 0.99 }] },
  async process(batch, ctx) {
    await ctx.tx.executeMany('INSERT INTO copied (id, email) VALUES (?, ?)', batch.map((c) => [c.id, c.email]));
  },
});

// The same backfill writing through Kysely inside Sluice's batch transaction (PostgreSQL).
interface Tables { copied_by_kysely: { id: number; email: string } }
const throughKysely = defineBackfill<Customer>({
  name: 'customers-kysely',
  source: customerSource(),
  key: (c) => String(c.id),
  batchSize: 10,
  delivery: 'transactional',
  async process(batch, ctx) {
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: pgTransactionPool(ctx) }) });
    await db.insertInto('copied_by_kysely').values(batch.map((c) => ({ id: c.id, email: c.email }))).execute();
  },
});

const sqlite = await openSqliteStore('app.db');
await sqlite.transaction((tx) => tx.sql.execute('CREATE TABLE IF NOT EXISTS copied (id INTEGER PRIMARY KEY, email TEXT)'));
const onSqlite = createSluice({ store: sqlite, backfills: [customers] });
const first = await (await onSqlite.start('customers')).done;
const [rows] = await sqlite.readConnection().query<{ n: number }>('SELECT COUNT(*) AS n FROM copied');

const metrics = new RunMetrics();
const { app } = buildServer({ sluice: onSqlite, metrics });
const healthz = (await app.inject({ method: 'GET', url: '/healthz' })).statusCode;
const runs = (await app.inject({ method: 'GET', url: '/api/v1/runs' })).statusCode;
await app.close();
await onSqlite.close();
await sqlite.close();

// The app's tables in the test's own schema (in public, rows of an earlier run would collide).
const postgres = await openPostgresStore({ connectionString: process.env.PG_URL!, schema: process.env.PG_SCHEMA!, searchPath: process.env.PG_SCHEMA! });
await postgres.transaction((tx) => tx.sql.execute('CREATE TABLE IF NOT EXISTS copied (id INTEGER PRIMARY KEY, email TEXT)'));
await postgres.transaction((tx) => tx.sql.execute('CREATE TABLE IF NOT EXISTS copied_by_kysely (id INTEGER PRIMARY KEY, email TEXT)'));
const onPostgres = createSluice({ store: postgres, backfills: [customers, throughKysely] });
const second = await (await onPostgres.start('customers')).done;
const third = await (await onPostgres.start('customers-kysely')).done;
const [kyselyRows] = await postgres.readConnection().query<{ n: number }>('SELECT COUNT(*)::int AS n FROM copied_by_kysely');
await onPostgres.close();
await postgres.close();

console.log(JSON.stringify({
  sqlite: { state: first.state, processed: first.counts.processed, rows: Number(rows!.n) },
  postgres: { state: second.state, processed: second.counts.processed },
  kysely: { state: third.state, processed: third.counts.processed, rows: Number(kyselyRows!.n) },
  server: { healthz, runs },
  metrics: (await metrics.render()).body.includes('sluice_items_total'),
  rules: sloRulesYaml([customers]).includes('alert:'),
}));
`;
