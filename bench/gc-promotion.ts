/**
 * A diagnostic of garbage that outlives the young generation: a no-op transactional backfill over
 * a SQLite table, in a child process under `--trace-gc-nvp`, summing what the scavenges during the
 * run promoted to the old space. Unlike a time it barely moves with the machine's load, so it shows
 * whether a change keeps batches' rows alive past their batch (at eb39c41 a 1,000,000-row run
 * promoted 0.5 MB; since per-batch context met per-item outcomes, about 85 MB: see BENCHMARKS.md).
 *
 *   node --import tsx bench/gc-promotion.ts [--rows 1000000] [--body-bytes 0]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedSqliteItems } from './items-table.js';
import { timeNoopBackfill } from './noop-backfill.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'body-bytes': { type: 'string', default: '0' },
    child: { type: 'string' },
  },
});
const rows = Number(values.rows);
const bodyBytes = Number(values['body-bytes']);
if (!Number.isInteger(rows) || rows < 1000) throw new Error(`--rows must be an integer ≥ 1000, got ${values.rows}`);

if (values.child) {
  // The child: the run alone between two markers, so that seeding's collections are left out.
  const { openSqliteStore } = await import('../src/sqlite.js');
  const store = await openSqliteStore(values.child);
  console.log('RUN-START');
  await timeNoopBackfill(store, 'items', rows, 1000);
  console.log('RUN-END');
} else {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-gc-'));
  try {
    const path = join(dir, 'items.db');
    seedSqliteItems(path, rows, bodyBytes);
    const out = execFileSync(
      process.execPath,
      ['--trace-gc-nvp', '--import', 'tsx', new URL(import.meta.url).pathname, '--rows', String(rows), '--child', path],
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
    );
    const during = out.slice(out.indexOf('RUN-START'), out.indexOf('RUN-END'));
    const scavenges = during.split('\n').filter((line) => line.includes(' gc=s '));
    const field = (line: string, name: string) => Number(new RegExp(` ${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
    const promoted = scavenges.reduce((sum, line) => sum + field(line, 'promoted'), 0);
    const pauses = scavenges.reduce((sum, line) => sum + field(line, 'pause'), 0);
    const width = bodyBytes > 0 ? `wide rows (${bodyBytes} bytes)` : 'narrow rows';
    console.log(`### Garbage promoted during a no-op transactional run, SQLite, ${rows.toLocaleString('en')} ${width}\n`);
    console.log('| scavenges | promoted to the old space | scavenge pauses |');
    console.log('| ---: | ---: | ---: |');
    console.log(`| ${scavenges.length} | ${(promoted / 1e6).toFixed(1)} MB | ${pauses.toFixed(0)} ms |\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
