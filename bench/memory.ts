/**
 * Peak RSS of a Sluice process over growing backfills: a no-op transactional backfill over 100k,
 * 1M and 10M rows of a SQLite table, each in a fresh process (so that peaks do not carry over).
 * Memory should stay flat: batches are read, processed and dropped; nothing grows with the run.
 * The measured process runs the compiled package (bench/memory-child.mjs).
 *
 *   node --import tsx bench/memory.ts [--sizes 100000,1000000,10000000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { ensureBuilt } from './built.js';
import { printTarget } from './report.js';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '100000,1000000,10000000' } } });
const sizes = values.sizes!.split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'sluice-memory-'));

function seed(path: string, rows: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items (id, payload) VALUES (?, ?)');
  for (let start = 1; start <= rows; start += 100_000) {
    db.transaction(() => {
      for (let i = start; i < Math.min(rows + 1, start + 100_000); i++) insert.run(i, `item-${i}`);
    })();
  }
  db.close();
}

ensureBuilt();
try {
  const results: Array<{ items: number; peakRssMb: number; ms: number }> = [];
  for (const rows of sizes) {
    const path = join(dir, `items-${rows}.db`);
    seed(path, rows);
    const out = execFileSync(process.execPath, [new URL('./memory-child.mjs', import.meta.url).pathname, path], { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { items: number; peakRssMb: number; ms: number };
    if (result.items !== rows) throw new Error(`the run saw ${result.items} items, expected ${rows}`);
    results.push(result);
    rmSync(path, { force: true });
  }
  const base = results[0]!.peakRssMb;
  console.log(`### Peak RSS of a Sluice process (no-op transactional backfill, SQLite, batch size 1000)\n`);
  console.log('| items | peak RSS | vs the smallest | time | items/s |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.items.toLocaleString('en')} | ${r.peakRssMb.toFixed(0)} MB | ${(r.peakRssMb / base).toFixed(2)}× | ${(r.ms / 1000).toFixed(2)} s | ${Math.round(r.items / (r.ms / 1000)).toLocaleString('en')} |`,
    );
  }
  const peak = Math.max(...results.map((r) => r.peakRssMb));
  console.log('');
  printTarget(
    'memory, peak RSS ≤ 150 MB at every size (flatness is read off the table)',
    peak <= 150,
    `highest peak ${peak.toFixed(0)} MB`,
  );
  console.log('');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
