/**
 * A diagnostic of garbage that outlives the young generation: a no-op transactional backfill over
 * a SQLite table, in a child process under `--trace-gc-nvp`, summing what the scavenges during the
 * run promoted to the old space. Unlike a time it barely moves with the machine's load, so it shows
 * whether a change keeps batches' rows alive past their batch. It found one: a getter in the
 * per-batch `ctx` literal (and in a batch's commit turn) kept nearly every batch's rows alive until
 * the next full collection, 84 MB promoted on 1,000,000 narrow rows; without it, about 2 MB.
 * On narrow rows it judges the run against a target of 5 MB and 5 MB per 1,000,000 rows: a run
 * promotes a few MB whatever its length (startup, compiled code), 1 to 5 MB at 200,000 rows.
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
import { printTarget } from './report.js';

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
    const scavenges = during.split('\n').flatMap((line) => scavengeOf(line) ?? []);
    const promoted = scavenges.reduce((sum, s) => sum + s.promoted, 0);
    const pauses = scavenges.reduce((sum, s) => sum + s.pause, 0);
    const width = bodyBytes > 0 ? `wide rows (${bodyBytes} bytes)` : 'narrow rows';
    console.log(`### Garbage promoted during a no-op transactional run, SQLite, ${rows.toLocaleString('en')} ${width}\n`);
    console.log('| scavenges | promoted to the old space | scavenge pauses |');
    console.log('| ---: | ---: | ---: |');
    console.log(`| ${scavenges.length} | ${(promoted / 1e6).toFixed(1)} MB | ${pauses.toFixed(0)} ms |\n`);
    if (bodyBytes === 0) {
      const guardMb = 5 + (5 * rows) / 1_000_000;
      const met = promoted / 1e6 <= guardMb;
      printTarget(
        'rows die with their batch: promoted ≤ 5 MB and 5 MB per 1,000,000 rows',
        met,
        `${(promoted / 1e6).toFixed(1)} of ${guardMb.toLocaleString('en')} MB`,
      );
      console.log('');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One scavenge's promoted bytes and pause from a `--trace-gc-nvp` line, or undefined for any other
 * line. Node 20 prints `name=value` pairs (` gc=s … promoted=…`); later V8s print `GC: {…}` JSON.
 */
function scavengeOf(line: string): { promoted: number; pause: number } | undefined {
  const json = line.indexOf('GC: {');
  if (json >= 0) {
    try {
      const fields = JSON.parse(line.slice(json + 4)) as { gc?: string; promoted?: number; pause?: number };
      return fields.gc === 's' ? { promoted: fields.promoted ?? 0, pause: fields.pause ?? 0 } : undefined;
    } catch {
      return undefined;
    }
  }
  if (!line.includes(' gc=s ')) return undefined;
  const field = (name: string) => Number(new RegExp(` ${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
  return { promoted: field('promoted'), pause: field('pause') };
}
