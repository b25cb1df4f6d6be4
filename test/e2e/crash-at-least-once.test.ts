import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { runCli } from '../helpers/cli.js';
import { killAndFinish, sqliteOrders } from '../helpers/crash.js';
import { tempDir } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const ROWS = 30_000;
const BATCH = 300;

describe('crash and restart, at-least-once to an external sink', () => {
  it('after SIGKILLs, every item is delivered, repeats are at most one batch per kill, and idempotency keys dedupe them', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const db = join(dir, 's.db');
      sqliteOrders(db, ROWS);
      // The "external system": an append-only file, as a webhook receiver or a queue would be.
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { appendFileSync } from 'node:fs';
import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: number; total: number }>({
    name: 'export-orders',
    source: sqlKeyset({ table: 'orders', key: 'id' }),
    batchSize: ${BATCH},
    async process(orders, ctx) {
      appendFileSync('sink.log', orders.map((o) => ctx.idempotencyKey(o) + ' ' + o.id).join('\\n') + '\\n');
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
  }),
];
`,
      );
      const args = ['run', 'export-orders', '--db', db];
      const kills = await killAndFinish(args, { cwd: dir });

      // A SIGKILL can land in the middle of appendFileSync (Linux stops a write at a fatal signal),
      // leaving a torn fragment that the next process's first line continues. The sink reads whole
      // records, as a receiver would parse whole requests: a fragment is not a delivery.
      const records = (text: string) => [...text.matchAll(/export-orders-[0-9a-f]{40} \d+\n/g)].map((m) => m[0].trim());
      const lines = records(readFileSync(join(dir, 'sink.log'), 'utf8'));
      const keys = new Set(lines.map((l) => l.split(' ')[0]));
      const ids = new Set(lines.map((l) => Number(l.split(' ')[1])));
      assert.equal(ids.size, ROWS, 'every order delivered');
      assert.equal(keys.size, ROWS, 'one idempotency key per order: the sink can drop every repeat');
      assert.ok(lines.length - ROWS <= kills * BATCH, `${lines.length - ROWS} repeats after ${kills} kills (at most one batch each)`);
      const ledger = new Database(db, { readonly: true });
      const delivered = (ledger.prepare("SELECT COUNT(*) AS n FROM sluice_ledger WHERE namespace = 'export-orders'").get() as { n: number })
        .n;
      ledger.close();
      assert.equal(delivered, ROWS);

      // Re-triggering the finished backfill delivers nothing: the ledger is permanent.
      const again = await runCli([...args, '--new'], { cwd: dir });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(records(readFileSync(join(dir, 'sink.log'), 'utf8')).length, lines.length);
    } finally {
      await cleanup();
    }
  });
});
