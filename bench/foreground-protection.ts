/**
 * Foreground protection on PostgreSQL: a foreground workload at a fixed request rate, its p95
 * latency alone (idle), next to an unthrottled backfill, next to Sluice's throttled backfill
 * (a probe of the foreground's own statement, plus postgresHealth), and seed 002's fixed default
 * (5 items every 2 s) for contrast. All in one run, on one scratch database.
 *
 *   node --import tsx bench/foreground-protection.ts [--seconds 10] [--rate 300] [--rows 400000]
 *
 * Latency is measured from each request's scheduled start (not from when a connection was free),
 * so a stalled database cannot hide its queue (no coordinated omission).
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createSluice, defineBackfill, postgresHealth, probe, sqlKeyset, type HealthSignal } from '../src/index.js';
import { openPostgresStore } from '../src/stores/postgres/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '300' },
    rows: { type: 'string', default: '400000' },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const ROWS = Number(values.rows);
const FOREGROUND_CONNECTIONS = 8;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The foreground: RATE single-row updates per second over FOREGROUND_CONNECTIONS connections. */
async function foreground(url: string, seconds: number): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: FOREGROUND_CONNECTIONS }, async () => {
    const c = new pg.Client({ connectionString: url, application_name: 'bench:foreground' });
    await c.connect();
    return c;
  }));
  const latencies: number[] = [];
  const start = performance.now();
  const total = Math.floor(RATE * seconds);
  let next = 0;
  await Promise.all(clients.map(async (client) => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const scheduled = start + (i * 1000) / RATE;
      const wait = scheduled - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await client.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [1 + Math.floor(Math.random() * 10_000)]);
      latencies.push(performance.now() - scheduled);
    }
  }));
  await Promise.all(clients.map((c) => c.end()));
  return latencies.sort((a, b) => a - b);
}

interface Variant {
  name: string;
  batchSize: number;
  concurrency: number;
  batchDelayMs?: number;
  signals?: (url: string, budgetMs: number) => HealthSignal[];
  adaptive?: { targetBatchMs: number };
}

/** Runs the backfill of `column` for `seconds` next to the foreground; returns items/s and the foreground's latencies. */
async function phase(url: string, schema: string, column: string, variant: Variant, budgetMs: number) {
  const store = await openPostgresStore({ connectionString: url, schema, poolSize: variant.concurrency + 2 });
  const signals = variant.signals?.(url, budgetMs) ?? [];
  const def = defineBackfill<{ id: string; payload: string }>({
    name: `bench-${column}`,
    source: sqlKeyset({ table: 'events', key: 'id', columns: ['id', 'payload'] }),
    delivery: 'transactional',
    batchSize: variant.batchSize,
    concurrency: variant.concurrency,
    throttle: { ...(variant.batchDelayMs ? { batchDelayMs: variant.batchDelayMs } : {}), signals, signalIntervalMs: 100, ...(variant.adaptive ? { adaptive: variant.adaptive } : {}) },
    async process(batch, ctx) {
      // A little work per row in the database: a hash of the payload, written back.
      await ctx.tx!.query(`UPDATE events SET ${column} = length(md5(md5(payload) || id::text))::float8 WHERE id = ANY(?::bigint[])`, [batch.map((r) => r.id)] as never);
    },
  });
  const sluice = createSluice({ store, backfills: [def] });
  try {
    const handle = await sluice.start(def.name);
    const started = performance.now();
    const latencies = await foreground(url, SECONDS);
    handle.stop('bench', 'phase over');
    const outcome = await handle.done;
    const seconds = (performance.now() - started) / 1000;
    const decisions = await store.listDecisions(outcome.runId, 10_000);
    const count = (kind: string) => decisions.filter((d) => d.kind === kind).length;
    return { latencies, itemsPerSecond: outcome.counts.processed / seconds, processed: outcome.counts.processed, decisions: `${count('slowed')} slowed, ${count('paused')} paused, ${count('adapted')} adapted` };
  } finally {
    await sluice.close();
    await Promise.all(signals.map((s) => s.close?.()));
    await store.close();
  }
}

async function main(): Promise<void> {
  const name = `sluice_bench_fg_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: values.pg });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(values.pg!);
  url.pathname = `/${name}`;
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  try {
    await db.query('CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)');
    await db.query('INSERT INTO accounts (id) SELECT generate_series(1, 10000)');
    await db.query(`CREATE TABLE events (id bigint PRIMARY KEY, payload text NOT NULL,
      score_unthrottled float8, score_sluice float8, score_fixed float8)`);
    await db.query(`INSERT INTO events (id, payload) SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, ${ROWS}) AS i`);
    await db.query('VACUUM ANALYZE');

    console.log(`# Foreground protection (PostgreSQL)\n`);
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; foreground ${RATE} updates/s over ${FOREGROUND_CONNECTIONS} connections, ${SECONDS} s per phase, ${ROWS.toLocaleString('en-US')} rows to backfill\n`);
    const idle = await foreground(url.toString(), SECONDS);
    const idleP95 = percentile(idle, 95);
    const budgetMs = Math.max(2, idleP95 * 1.2);
    const targetBatchMs = Number(process.env.BENCH_TARGET_BATCH_MS ?? 100);
    const variants: Variant[] = [
      { name: 'unthrottled (batches of 2,000, 4 lanes, no delay)', batchSize: 2000, concurrency: 4 },
      {
        name: 'Sluice adaptive (same starting knobs; probe of the foreground, postgresHealth, adaptive controller)',
        batchSize: 2000,
        concurrency: 4,
        adaptive: { targetBatchMs },
        signals: (u, budget) => {
          const probeClient = new pg.Client({ connectionString: u, application_name: 'bench:probe' });
          probeClient.on('error', () => undefined);
          const ready = probeClient.connect();
          return [
            {
              ...probe({
              name: 'foreground',
              budgetMs: budget,
              stopMs: budget * 5,
              window: 10,
              run: async () => {
                await ready;
                await probeClient.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [1 + Math.floor(Math.random() * 10_000)]);
              },
              }),
              close: () => probeClient.end(),
            },
            postgresHealth({ connectionString: u, onError: 'continue' }),
          ];
        },
      },
      { name: "seed 002's fixed default (5 items every 2 s)", batchSize: 5, concurrency: 1, batchDelayMs: 2000 },
    ];
    const columns = ['score_unthrottled', 'score_sluice', 'score_fixed'];
    const results = [];
    for (let i = 0; i < variants.length; i++) {
      // Each phase starts from the same state: the previous phase's dead rows vacuumed, its WAL checkpointed.
      await db.query('VACUUM events');
      await db.query('CHECKPOINT');
      results.push({ variant: variants[i]!, ...(await phase(url.toString(), 'sluice_bench', columns[i]!, variants[i]!, budgetMs)) });
    }

    const unthrottled = results[0]!.itemsPerSecond;
    const lines = [
      '| phase | foreground p50 | foreground p95 | p95 vs idle | backfill items/s | vs unthrottled | throttle decisions |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      `| idle (foreground alone) | ${percentile(idle, 50).toFixed(1)} ms | ${idleP95.toFixed(1)} ms | 1.00× | — | — | — |`,
      ...results.map((r) => `| ${r.variant.name} | ${percentile(r.latencies, 50).toFixed(1)} ms | ${percentile(r.latencies, 95).toFixed(1)} ms | ${(percentile(r.latencies, 95) / idleP95).toFixed(2)}× | ${Math.round(r.itemsPerSecond).toLocaleString('en-US')} | ${(r.itemsPerSecond / unthrottled).toFixed(2)}× | ${r.decisions} |`),
    ];
    console.log(lines.join('\n'));
    console.log(`\nprobe budget: ${budgetMs.toFixed(1)} ms (1.2 × idle p95). Targets: Sluice's p95 ≤ 1.2× idle, Sluice ≥ 0.70× unthrottled throughput.`);
  } finally {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
