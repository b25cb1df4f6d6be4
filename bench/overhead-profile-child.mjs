/**
 * One profiled run for bench/overhead-profile.ts: a no-op transactional backfill over an `items`
 * table (SQLite file or PostgreSQL table), with the V8 sampling profiler (node:inspector) running
 * from the start call to the run's outcome. Plain JavaScript over the compiled package (dist/), as
 * an installed Sluice runs, so that no TypeScript transformer shares the profile. Writes the
 * profile to the path given and prints, as one JSON line, the run's marks (process.hrtime in µs,
 * the profile's clock) and its garbage collections.
 *
 *   node bench/overhead-profile-child.mjs '{"store":"sqlite","path":…,"table":"items","rows":…,"batchSize":1000,"intervalUs":250,"profile":"….cpuprofile"}'
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { createSluice, defineBackfill, sqlKeyset } from '../dist/index.js';

const config = JSON.parse(process.argv[2]);
const now = () => Number(process.hrtime.bigint() / 1000n);
const opened = now();
const store =
  config.store === 'sqlite'
    ? await (await import('../dist/sqlite.js')).openSqliteStore(config.path)
    : await (await import('../dist/postgres.js')).openPostgresStore({
        connectionString: config.url,
        schema: config.storeSchema,
        poolSize: 3,
      });
const storeOpenUs = now() - opened;
// The CLI's logger (pino JSON lines) at info, into /dev/null: what logging costs when it is on.
const pino = config.pino ? await import('pino') : undefined;
const logger = pino?.pino({ level: 'info', base: undefined }, pino.destination('/dev/null'));

const marks = { start: 0, firstBatch: 0, lastBatch: 0, done: 0 };
let batches = 0;
const def = defineBackfill({
  // A name of its own: a SQLite store lives in the items file, which may have seen a run already.
  name: `overhead-profile-${process.pid}`,
  source: sqlKeyset({ table: config.table, key: 'id' }),
  delivery: 'transactional',
  batchSize: config.batchSize,
  process: () => {
    marks.lastBatch = now();
    if (batches++ === 0) marks.firstBatch = marks.lastBatch;
  },
});
const sluice = createSluice({ store, backfills: [def], ...(logger ? { logger } : {}) });

const gc = { minor: { count: 0, ms: 0 }, major: { count: 0, ms: 0 } };
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR ? gc.minor : gc.major;
    kind.count += 1;
    kind.ms += entry.duration;
  }
});
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: config.intervalUs });
await session.post('Profiler.start');
observer.observe({ entryTypes: ['gc'] });
marks.start = now();
const outcome = await (await sluice.start(def.name)).done;
marks.done = now();
observer.disconnect();
const { profile } = await session.post('Profiler.stop');
session.disconnect();
await sluice.close();
await store.close();
if (outcome.state !== 'succeeded' || outcome.counts.processed !== config.rows) {
  throw new Error(`the run ended ${outcome.state} with ${outcome.counts.processed} of ${config.rows} processed`);
}
writeFileSync(config.profile, JSON.stringify(profile));
process.stdout.write(`${JSON.stringify({ storeOpenUs, marks, batches, gc, profileStart: profile.startTime })}\n`);
