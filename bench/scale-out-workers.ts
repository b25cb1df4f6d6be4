/**
 * Scale-out on PostgreSQL: one run shared by 1, 2, 4 and 8 workers, with an I/O-bound handler
 * (each batch waits 20 ms, as a call to another service would), measured in the same run against
 * the 1-worker baseline. Each worker is a separate engine with its own connection pool and
 * identity: separate processes would add nothing an I/O-bound handler notices, and in one process
 * the claim latency can be measured around the store call itself.
 *
 *   node --import tsx bench/scale-out-workers.ts [--items 32000] [--batch-size 50] [--handler-ms 20]
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createSluice, defineBackfill, sqlKeyset } from '../src/index.js';
import { runWorker } from '../src/core/worker-loop.js';
import { systemClock } from '../src/core/clock.js';
import { silentLogger } from '../src/core/logger.js';
import { openPostgresStore } from '../src/stores/postgres/index.js';
import { printTarget, targetLine } from './report.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '32000' },
    'batch-size': { type: 'string', default: '50' },
    'handler-ms': { type: 'string', default: '20' },
    workers: { type: 'string', default: '1,2,4,8' },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const ITEMS = Number(values.items);
const BATCH = Number(values['batch-size']);
const HANDLER_MS = Number(values['handler-ms']);
const COUNTS = values.workers!.split(',').map(Number);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function measure(workers: number): Promise<{ seconds: number; itemsPerSecond: number; claims: number[]; perWorker: number[] }> {
  const schema = `sluice_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: values.pg });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.items (id bigint PRIMARY KEY)`);
  await admin.query(`INSERT INTO ${schema}.items SELECT generate_series(1, ${ITEMS})`);
  const def = defineBackfill<{ id: string }>({
    name: 'scale-out',
    source: sqlKeyset({ table: `${schema}.items`, key: 'id' }),
    delivery: 'transactional',
    batchSize: BATCH,
    async process(_batch, ctx) {
      await ctx.tx!.execute('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, HANDLER_MS));
    },
  });
  const claims: number[] = [];
  const perWorker: number[] = [];
  const engines = await Promise.all(
    Array.from({ length: workers }, async (_, i) => {
      const store = await openPostgresStore({ connectionString: values.pg!, schema, poolSize: 4 });
      // Time every claim where it happens: the store call, as each worker sees it.
      const claim = store.claimPartition.bind(store);
      store.claimPartition = async (...args) => {
        const started = performance.now();
        try {
          return await claim(...args);
        } finally {
          claims.push(performance.now() - started);
        }
      };
      const sluice = createSluice({
        store,
        backfills: [def],
        worker: { id: `bench:${i}:${randomBytes(3).toString('hex')}`, host: 'bench', pid: i },
        leaseMs: 10_000,
      });
      return { store, sluice, batches: 0 };
    }),
  );
  try {
    // One partition per worker up front; idle workers split the largest as they go.
    await engines[0]!.sluice.enqueue('scale-out', { concurrency: workers });
    const started = performance.now();
    // The backfill is done when its run succeeds (the worker that ends it sees that at once); the
    // other workers notice at their next poll, which is idle time, not work, so it is not counted.
    let succeededAt: number | undefined;
    await Promise.all(
      engines.map((e) =>
        runWorker({
          sluice: e.sluice,
          clock: systemClock,
          logger: silentLogger,
          signal: new AbortController().signal,
          pollIntervalMs: 50,
          exitWhenIdle: true,
          concurrency: 1,
          onRun: (handle) => handle.on('batch', () => (e.batches += 1)),
          onOutcome: (outcome) => {
            if (outcome.state === 'succeeded') succeededAt ??= performance.now();
          },
        }),
      ),
    );
    if (succeededAt === undefined) throw new Error('no worker saw the run succeed');
    const seconds = (succeededAt - started) / 1000;
    const processed = Number((await admin.query(`SELECT SUM(processed) AS n FROM ${schema}.sluice_partitions`)).rows[0].n);
    if (processed !== ITEMS) throw new Error(`processed ${processed} of ${ITEMS}`);
    perWorker.push(...engines.map((e) => e.batches));
    return { seconds, itemsPerSecond: ITEMS / seconds, claims: claims.sort((a, b) => a - b), perWorker };
  } finally {
    await Promise.all(
      engines.map(async (e) => {
        await e.sluice.close();
        await e.store.close();
      }),
    );
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

console.log('### Scale-out on PostgreSQL\n');
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; ${ITEMS.toLocaleString('en-US')} items, batches of ${BATCH}, handler ${HANDLER_MS} ms per batch, one lane per worker\n`,
);
console.log('| workers | time | items/s | speed-up vs 1 worker | claim p50 | claim p99 | batches per worker |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | --- |');
let baseline: number | undefined;
let atEight: number | undefined;
for (const workers of COUNTS) {
  const r = await measure(workers);
  baseline ??= r.itemsPerSecond;
  if (workers === 8) atEight = r.itemsPerSecond / baseline;
  console.log(
    `| ${workers} | ${r.seconds.toFixed(2)} s | ${Math.round(r.itemsPerSecond).toLocaleString('en-US')} | ${(r.itemsPerSecond / baseline).toFixed(2)}× | ${percentile(r.claims, 50).toFixed(1)} ms | ${percentile(r.claims, 99).toFixed(1)} ms | ${r.perWorker.join(', ')} |`,
  );
}
console.log(
  `\nThe ideal is ${Math.round((1000 / HANDLER_MS) * BATCH).toLocaleString('en-US')} items/s per worker (one ${HANDLER_MS} ms batch of ${BATCH} at a time).\n`,
);
if (atEight === undefined || COUNTS[0] !== 1) console.log(targetLine('scale-out, 8 workers ≥ 7× one'));
else printTarget('scale-out, 8 workers ≥ 7× one', atEight >= 7, `${atEight.toFixed(2)}×`);
