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
        `import { appendFileSync } from 'node:fs';
import { defineBackfill, jsonl } from '${SLUICE}';

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
];
`,
      );
      const db = join(dir, 's.db');
      const first = await runCli(['run', 'events', '--db', db], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const summary = jsonLines(first.stdout).find((e) => e.event === 'summary')!;
      assert.deepEqual(summary.counts, { received: 251, processed: 250, skipped: 0, failed: 0, quarantined: 1 });
      const delivered = readFileSync(join(dir, 'delivered.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; key: string });
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

      const defs = await runCli(['list', '--backfills', '--db', db], { cwd: dir });
      assert.match(defs.stdout, /events\s+at-least-once\s+events\.jsonl \(JSON lines\)/);
    } finally {
      await cleanup();
    }
  });
});
