import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A project as a user has it: `sluice` installed in node_modules (here a symlink to this checkout,
 * as `npm link` makes it), and a sluice.config.ts that imports from the package by its name. The
 * package's entry point is the build (`npm test` builds first).
 */
describe('CLI: a sluice.config.ts importing from the installed package', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/index.js is missing: run `npm run build` first (npm test does)');
    ({ dir, cleanup } = await tempDir());
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'sluice'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-app', private: true, type: 'module' }));
  });
  after(async () => cleanup());

  it('runs an at-least-once backfill over a JSON-lines file; the malformed line is quarantined as PARSE_ERROR', async () => {
    const cwd = join(dir, 'events');
    mkdirSync(cwd);
    const lines = Array.from({ length: 120 }, (_, i) => JSON.stringify({ id: `evt-${i}`, amount: i * 10 }));
    lines.splice(57, 0, '{"id": "evt-broken", "amount": }');
    writeFileSync(join(cwd, 'events.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(
      join(cwd, 'sluice.config.ts'),
      `import { appendFileSync } from 'node:fs';
import { defineBackfill, jsonl } from 'sluice';

interface Event { id: string; amount: number }

export default {
  backfills: [
    defineBackfill<Event>({
      name: 'events-to-ledger',
      description: 'copy events into delivered.jsonl',
      source: jsonl({ path: 'events.jsonl' }),
      key: (event) => event.id,
      delivery: 'at-least-once',
      batchSize: 25,
      process(batch, ctx) {
        appendFileSync('delivered.jsonl', batch.map((e) => JSON.stringify({ id: e.id, key: ctx.idempotencyKey(e) })).join('\\n') + '\\n');
      },
    }),
  ],
};
`,
    );
    const db = join(cwd, '.sluice', 'sluice.db');

    const run = await runCli(['run', 'events-to-ledger', '--db', db], { cwd });
    assert.equal(run.code, 0, run.stderr);
    const events = jsonLines(run.stdout);
    const summary = events.find((e) => e.event === 'summary')!;
    assert.equal(summary.state, 'succeeded');
    assert.deepEqual(summary.counts, { received: 121, processed: 120, skipped: 0, failed: 0, quarantined: 1 });
    assert.deepEqual(
      events.filter((e) => e.event === 'quarantined').map((e) => e.errorClass),
      ['PARSE_ERROR'],
    );
    const delivered = readFileSync(join(cwd, 'delivered.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; key: string });
    assert.equal(delivered.length, 120);
    assert.equal(new Set(delivered.map((d) => d.id)).size, 120);
    assert.ok(
      delivered.every((d) => /^events-to-ledger-[0-9a-f]{40}$/.test(d.key)),
      'every delivery carries its idempotency key',
    );

    const list = await runCli(['quarantine', 'list', '--db', db, '--json'], { cwd });
    assert.equal(list.code, 0, list.stderr);
    const entries = JSON.parse(list.stdout) as Array<{ runId: string; errorClass: string; payload: string; status: string }>;
    assert.equal(entries.length, 1);
    assert.deepEqual([entries[0]!.runId, entries[0]!.errorClass, entries[0]!.status], [summary.runId, 'PARSE_ERROR', 'open']);
    assert.match(entries[0]!.payload, /evt-broken/);

    const human = await runCli(['quarantine', 'list', '--run', String(summary.runId), '--class', 'PARSE_ERROR', '--db', db], { cwd });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /PARSE_ERROR/);
    assert.match(human.stdout, /evt-broken/);
    const otherClass = await runCli(['quarantine', 'list', '--class', 'TIMEOUT', '--db', db, '--json'], { cwd });
    assert.deepEqual(JSON.parse(otherClass.stdout), []);

    const status = JSON.parse((await runCli(['status', String(summary.runId), '--db', db, '--json'], { cwd })).stdout) as {
      quarantine: Array<{ errorClass: string; count: number }>;
    };
    assert.deepEqual(status.quarantine, [{ errorClass: 'PARSE_ERROR', count: 1 }]);

    const defs = JSON.parse((await runCli(['list', '--backfills', '--db', db, '--json'], { cwd })).stdout) as Array<{
      name: string;
      delivery: string;
    }>;
    assert.deepEqual(
      defs.map((d) => [d.name, d.delivery]),
      [['events-to-ledger', 'at-least-once']],
      "the project's backfills, not the demo's",
    );

    // The run is finished: running the backfill again says so and does nothing; a new run asked for
    // on purpose delivers nothing twice either, as the ledger skips every delivered event.
    const same = await runCli(['run', 'events-to-ledger', '--db', db], { cwd });
    assert.equal(same.code, 0, same.stderr);
    assert.deepEqual(
      jsonLines(same.stdout).map((e) => [e.event, e.runId]),
      [['already-succeeded', summary.runId]],
    );
    const again = await runCli(['run', 'events-to-ledger', '--new', '--db', db], { cwd });
    assert.equal(again.code, 0, again.stderr);
    const second = jsonLines(again.stdout).find((e) => e.event === 'summary')!;
    assert.notEqual(second.runId, summary.runId);
    assert.equal((second.counts as { skipped: number }).skipped, 120);
    assert.equal(readFileSync(join(cwd, 'delivered.jsonl'), 'utf8').trim().split('\n').length, 120, 'nothing delivered twice');
  });

  it('a definition the package refuses is a config error (exit 2), one line, no stack trace, no store written', async () => {
    const cwd = join(dir, 'refused');
    mkdirSync(cwd);
    writeFileSync(
      join(cwd, 'sluice.config.ts'),
      `import { defineBackfill, jsonl } from 'sluice';
export default [defineBackfill({ name: 'bad', source: jsonl({ path: 'x.jsonl' }), key: (e: { id: string }) => e.id, batchSize: -3, process() {} })];
`,
    );
    const db = join(cwd, 's.db');
    const r = await runCli(['run', 'bad', '--db', db], { cwd });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `sluice: could not load ${join(cwd, 'sluice.config.ts')}: defineBackfill("bad"): batchSize must be a positive integer, got -3\n`,
    );
    assert.equal(existsSync(db), false);
  });

  it('a project without "type": "module" (its config loaded as CommonJS) still resolves the package', async () => {
    const project = join(dir, 'commonjs-project');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(project, 'node_modules', 'sluice'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'legacy-app', private: true }));
    writeFileSync(join(project, 'events.jsonl'), '{"id":"a"}\n{"id":"b"}\n');
    writeFileSync(
      join(project, 'sluice.config.ts'),
      `import { defineBackfill, jsonl } from 'sluice';
export default [defineBackfill<{ id: string }>({ name: 'legacy', source: jsonl({ path: 'events.jsonl' }), key: (e) => e.id, process() {} })];
`,
    );
    const r = await runCli(['run', 'legacy', '--db', join(project, 's.db')], { cwd: project });
    assert.equal(r.code, 0, r.stderr);
    const summary = jsonLines(r.stdout).find((l) => l.event === 'summary')!;
    assert.equal(summary.state, 'succeeded');
    assert.equal((summary.counts as { processed: number }).processed, 2);
  });
});
