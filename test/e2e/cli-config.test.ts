import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

describe('CLI: a user backfill from sluice.config.ts', () => {
  it('runs at-least-once over a JSON-lines file, quarantines the malformed line, and never delivers twice', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const events = Array.from({ length: 250 }, (_, i) => JSON.stringify({ id: `evt-${i}`, n: i }));
      events.splice(100, 0, '{"id": "evt-broken", n: }');
      writeFileSync(join(dir, 'events.jsonl'), `${events.join('\n')}\n`);
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { appendFileSync, existsSync } from 'node:fs';
import { defineBackfill, jsonl, PermanentError } from '${SLUICE}';

export default [
  defineBackfill<{ id: string; n: number }>({
    name: 'events',
    source: jsonl({ path: 'events.jsonl' }),
    key: (event) => event.id,
    batchSize: 40,
    async process(batch, ctx) {
      appendFileSync('delivered.jsonl', batch.map((e) => JSON.stringify({ id: e.id, key: ctx.idempotencyKey(e) })).join('\\n') + '\\n');
    },
  }),
  defineBackfill<{ id: string; n: number }>({
    name: 'picky',
    source: jsonl({ path: 'events.jsonl' }),
    key: (event) => event.id,
    batchSize: 50,
    maxFailureRatio: 0.5,
    async process(batch) {
      // Event 7 cannot be handled until the fix (a file named "fixed") is deployed.
      if (!existsSync('fixed') && batch.some((e) => e.n === 7)) throw new PermanentError('no handler for 7', 'NO_HANDLER');
      appendFileSync('picky.jsonl', batch.map((e) => e.id).join('\\n') + '\\n');
    },
  }),
];
`,
      );
      const db = join(dir, 's.db');
      const first = await runCli(['run', 'events', '--db', db], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const summary = jsonLines(first.stdout).find((e) => e.event === 'summary')!;
      assert.deepEqual(summary.counts, { received: 251, processed: 250, skipped: 0, failed: 0, quarantined: 1 });
      const delivered = readFileSync(join(dir, 'delivered.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string; key: string });
      assert.equal(delivered.length, 250);
      assert.equal(new Set(delivered.map((d) => d.id)).size, 250);

      const quarantine = await runCli(['quarantine', 'list', '--db', db, '--json'], { cwd: dir });
      const entries = JSON.parse(quarantine.stdout) as Array<{ errorClass: string; itemKey: string; payload: string }>;
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.errorClass, 'PARSE_ERROR');
      assert.match(entries[0]!.itemKey, /^offset:\d+$/);
      assert.match(entries[0]!.payload, /evt-broken/);

      // A new run over the same file: the ledger skips all 250 delivered events.
      const again = await runCli(['run', 'events', '--new', '--db', db], { cwd: dir });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual((jsonLines(again.stdout).find((e) => e.event === 'summary')!.counts as { skipped: number }).skipped, 250);
      assert.equal(readFileSync(join(dir, 'delivered.jsonl'), 'utf8').trim().split('\n').length, 250, 'nothing delivered twice');

      // A failing item is isolated, the rest delivered; after the fix, replay delivers it.
      const picky = await runCli(['run', 'picky', '--db', db], { cwd: dir });
      assert.equal(picky.code, 0, picky.stderr);
      const pickyRun = String(jsonLines(picky.stdout).find((e) => e.event === 'summary')!.runId);
      const open = JSON.parse(
        (await runCli(['quarantine', 'list', '--run', pickyRun, '--class', 'NO_HANDLER', '--db', db, '--json'], { cwd: dir })).stdout,
      ) as Array<{ itemKey: string }>;
      assert.deepEqual(
        open.map((q) => q.itemKey),
        ['evt-7'],
      );
      assert.equal(readFileSync(join(dir, 'picky.jsonl'), 'utf8').trim().split('\n').length, 249);
      writeFileSync(join(dir, 'fixed'), '');
      const replay = await runCli(['quarantine', 'replay', pickyRun, '--class', 'NO_HANDLER', '--db', db, '--json'], { cwd: dir });
      assert.equal(replay.code, 0, replay.stderr);
      assert.deepEqual(JSON.parse(replay.stdout), { event: 'replay', runId: pickyRun, attempted: 1, replayed: 1, stillFailing: 0 });
      const lines = readFileSync(join(dir, 'picky.jsonl'), 'utf8').trim().split('\n');
      assert.equal(lines.length, 250);
      assert.equal(lines.at(-1), 'evt-7');

      const defs = await runCli(['list', '--backfills', '--db', db], { cwd: dir });
      assert.match(defs.stdout, /events\s+at-least-once\s+events\.jsonl \(JSON lines\)/);
    } finally {
      await cleanup();
    }
  });
});
