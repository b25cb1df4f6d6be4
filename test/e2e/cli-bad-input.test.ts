import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

describe('CLI: bad input gets one clear line and the right exit code, and writes nothing', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  const oneLine = (stderr: string) => stderr.trim().split('\n');

  it('demo --batch-size -3 exits 2 naming the flag, and creates no store', async () => {
    const db = join(dir, 'neg', 's.db');
    const r = await runCli(['demo', '--db', db, '--batch-size', '-3'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.deepEqual(oneLine(r.stderr), ['sluice: --batch-size must be a positive integer, got "-3"']);
    assert.equal(existsSync(db), false);
  });

  for (const [args, message] of [
    [['demo', '--since', 'yesterdayish'], /--since must be a duration like 7d, 12h or 30m, or an ISO date/],
    [['demo', '--concurrency', '0'], /--concurrency must be a positive integer, got "0"/],
    [['demo', '--max-batches', 'lots'], /--max-batches must be a positive integer, got "lots"/],
    [['list', '--state', 'sleeping'], /--state must be one of pending, running/],
    [['worker', '--poll', '0ms'], /--poll must be at least 10ms, got "0ms"/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['demo', '--no-such-flag'], /unknown option '--no-such-flag'/],
  ] as const) {
    it(`${args.join(' ')} → exit 2`, async () => {
      const db = join(dir, `bad-${args.join('-')}.db`);
      const r = await runCli([...args, '--db', db], { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(oneLine(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(existsSync(db), false);
    });
  }

  it('a store URL with a scheme Sluice does not serve exits 2 naming the forms it does, and creates no directory', async () => {
    for (const [args, env, what] of [
      [['run', 'anything', '--db', 'mysql://127.0.0.1/db'], {}, '--db'],
      [['status', '--db', 'sqlite:///tmp/x.db'], {}, '--db'],
      [['demo'], { SLUICE_DB: 'redis://127.0.0.1:6379/0' }, 'SLUICE_DB'],
    ] as const) {
      const cwd = join(dir, `scheme-${args[0]}`);
      mkdirSync(cwd);
      const r = await runCli(args, { cwd, env });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(oneLine(r.stderr).length, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^sluice: ${what} [a-z]+://\\S+: Sluice has no store for "[a-z]+://" URLs; give postgres://… \\(or postgresql://…\\) for a PostgreSQL store, or a file path for an SQLite store\n$`,
        ),
      );
      assert.deepEqual(readdirSync(cwd), [], 'nothing is created in the working directory');
    }
  });

  it('an unknown backfill exits 2, lists the defined ones, and creates no store', async () => {
    const db = join(dir, 'u.db');
    const r = await runCli(['run', 'nope', '--db', db], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'sluice: unknown backfill "nope"\nhint: no backfills are defined: add them to sluice.config.ts (or pass --config FILE); `sluice demo` runs the built-in demo\n',
    );
    assert.equal(existsSync(db), false);
  });

  it("an unknown backfill named by a config exits 2 listing the config's backfills too", async () => {
    const cwd = join(dir, 'named');
    mkdirSync(cwd);
    const sluice = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
    writeFileSync(
      join(cwd, 'sluice.config.ts'),
      `import { defineBackfill, jsonl } from '${sluice}';
export default [defineBackfill({ name: 'orders', source: jsonl({ path: 'orders.jsonl' }), key: (o: { id: number }) => o.id, process() {} })];
`,
    );
    const r = await runCli(['run', 'ordres'], { cwd });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, 'sluice: unknown backfill "ordres"\nhint: defined backfills: orders\n');
    assert.equal(existsSync(join(cwd, '.sluice')), false, 'the default store directory is not created');
  });

  it('commands that read the store do not create one: a missing file exits 2 saying where it looked', async () => {
    for (const args of [
      ['status'],
      ['status', 'r_1'],
      ['list'],
      ['pause', 'r_1'],
      ['cancel', 'r_1'],
      ['resume', 'r_1'],
      ['retry', 'r_1'],
      ['quarantine', 'list'],
      ['quarantine', 'replay', 'r_1'],
    ]) {
      const db = join(dir, 'absent', 's.db');
      const r = await runCli([...args, '--db', db], { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `sluice: no store at ${db}\nhint: pass --db (or set SLUICE_DB) to the store your runs are in; \`sluice run\` and \`sluice demo\` create one\n`,
      );
      assert.equal(existsSync(join(dir, 'absent')), false, args.join(' '));
    }
  });

  it('a config that throws exits 2 with its message and no stack trace', async () => {
    const cwd = join(dir, 'throwing');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'sluice.config.ts'), "throw new Error('DATABASE_URL is not set');\nexport default [];\n");
    const r = await runCli(['run', 'anything', '--db', join(cwd, 's.db')], { cwd });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^sluice: could not load .*sluice\.config\.ts: DATABASE_URL is not set\n$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(join(cwd, 's.db')), false);
  });

  it('a definition over a missing column exits 1 naming it, and records no run', async () => {
    const cwd = join(dir, 'missing-column');
    mkdirSync(cwd);
    const sluice = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
    writeFileSync(
      join(cwd, 'sluice.config.ts'),
      `import { defineBackfill, sqlKeyset } from '${sluice}';
export default [defineBackfill({ name: 'bad', source: sqlKeyset({ table: 'emails', key: 'id', sinceColumn: 'sent_at' }), process() {} })];
`,
    );
    const db = join(cwd, 's.db');
    const seeded = await runCli(['demo', '--rows', '10', '--max-batches', '1', '--db', db], { cwd });
    assert.equal(seeded.code, 0, seeded.stderr);
    const r = await runCli(['run', 'bad', '--db', db], { cwd });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^sluice: column "sent_at" not found in table "emails"; its columns are: id, sender, subject, body, link_count, received_at, risk_score, score_writes\n$/,
    );
    const runs = JSON.parse((await runCli(['list', '--backfill', 'bad', '--json', '--db', db], { cwd })).stdout) as unknown[];
    assert.deepEqual(runs, []);
  });

  it('a corrupt store file exits 1 with one message saying what to do', async () => {
    const db = join(dir, 'corrupt.db');
    writeFileSync(db, 'this is not a database, '.repeat(200));
    const r = await runCli(['status', '--db', db], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a Sluice store: the file is not a SQLite database/);
    assert.match(r.stderr, /hint: move the file away, or pass --db/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('an unknown run exits 2', async () => {
    const db = join(dir, 'runs.db');
    const seeded = await runCli(['demo', '--rows', '10', '--dry-run', '--db', db], { cwd: dir });
    assert.equal(seeded.code, 0, seeded.stderr);
    for (const args of [
      ['status', 'r_nope'],
      ['pause', 'r_nope'],
      ['resume', 'r_nope'],
    ]) {
      const r = await runCli([...args, '--db', db], { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^sluice: no run "r_nope" in .*runs\.db\n/);
    }
  });
});
