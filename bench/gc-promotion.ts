/**
 * A diagnostic of garbage that outlives the young generation: what a no-op transactional backfill
 * over a SQLite table promotes to the old space (bench/gc-promotion-measure.ts). It shows whether a
 * change keeps batches' rows alive past their batch. It found one: a getter in the per-batch `ctx`
 * literal (and in a batch's commit turn) kept nearly every batch's rows alive until the next full
 * collection, 84 MB promoted on 1,000,000 narrow rows; without it, about 2 MB. On narrow rows it
 * judges the run against a guard of 5 MB and 5 MB per 1,000,000 rows.
 *
 *   node --import tsx bench/gc-promotion.ts [--rows 1000000] [--body-bytes 0]
 */
import { parseArgs } from 'node:util';
import { measurePromotion, promotionGuardMb } from './gc-promotion-measure.js';
import { printTarget } from './report.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'body-bytes': { type: 'string', default: '0' },
  },
});
const rows = Number(values.rows);
const bodyBytes = Number(values['body-bytes']);
if (!Number.isInteger(rows) || rows < 1000) throw new Error(`--rows must be an integer ≥ 1000, got ${values.rows}`);

const { scavenges, promotedBytes, pauseMs } = measurePromotion(rows, bodyBytes);
const width = bodyBytes > 0 ? `wide rows (${bodyBytes} bytes)` : 'narrow rows';
console.log(`### Garbage promoted during a no-op transactional run, SQLite, ${rows.toLocaleString('en')} ${width}\n`);
console.log('| scavenges | promoted to the old space | scavenge pauses |');
console.log('| ---: | ---: | ---: |');
console.log(`| ${scavenges} | ${(promotedBytes / 1e6).toFixed(1)} MB | ${pauseMs.toFixed(0)} ms |\n`);
if (bodyBytes === 0) {
  const guardMb = promotionGuardMb(rows);
  printTarget(
    'rows die with their batch: promoted ≤ 5 MB and 5 MB per 1,000,000 rows',
    promotedBytes / 1e6 <= guardMb,
    `${(promotedBytes / 1e6).toFixed(1)} of ${guardMb.toLocaleString('en')} MB`,
  );
  console.log('');
}
