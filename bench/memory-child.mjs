/**
 * One measured run for bench/memory.ts: a no-op transactional backfill over the `items` table of
 * the SQLite file given, printing the peak RSS sampled every 20 ms and the run's duration. Plain
 * JavaScript over the compiled package (dist/), as an installed Sluice runs: through tsx, the
 * TypeScript transformer would be part of the measured process.
 */
import { createSluice, defineBackfill, sqlKeyset } from '../dist/index.js';
import { openSqliteStore } from '../dist/sqlite.js';

const path = process.argv[2];
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const store = await openSqliteStore(path);
const def = defineBackfill({
  name: 'memory',
  source: sqlKeyset({ table: 'items', key: 'id' }),
  delivery: 'transactional',
  batchSize: 1000,
  process: () => {},
});
const sluice = createSluice({ store, backfills: [def] });
const started = performance.now();
const outcome = await (await sluice.start('memory')).done;
const ms = performance.now() - started;
peak = Math.max(peak, process.memoryUsage().rss);
clearInterval(sampler);
await sluice.close();
await store.close();
process.stdout.write(`${JSON.stringify({ items: outcome.counts.received, peakRssMb: peak / 1048576, ms })}\n`);
