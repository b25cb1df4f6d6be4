/**
 * Where the foreground's slow requests come from, next to a backfill on PostgreSQL. Not a
 * benchmark of Sluice: plain keyset loops, each varying one thing, so that the cost of each part
 * of a backfill batch (reading rows, hashing in PostgreSQL, writing rows and WAL, committing) shows
 * in the foreground's latency on its own. During every phase a sampler reads the foreground
 * sessions' wait events from pg_stat_activity every 10 ms.
 *
 *   node --import tsx bench/foreground-anatomy.ts [--seconds 6] [--rows 600000] [--in-process]
 *
 * The foreground runs in a worker thread (its own event loop, as a separate service would have);
 * `--in-process` runs it on the backfill's event loop instead, to show what sharing one costs.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { withForegroundDatabase } from './foreground-database.js';
import pg from 'pg';
import { runForeground, type ForegroundResult } from './foreground-load.js';
import { sampleWaits, topWaits } from './pg-waits.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    rows: { type: 'string', default: '600000' },
    rate: { type: 'string', default: '300' },
    'in-process': { type: 'boolean', default: false },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const SECONDS = Number(values.seconds);
const ROWS = Number(values.rows);
const RATE = Number(values.rate);

interface Load {
  name: string;
  lanes: number;
  batch: number;
  /** The statement run per batch on the ids read, or none (read only). */
  statement?: (column: string) => string;
  pauseMs?: number;
}

const loads: Load[] = [
  { name: 'read only (SELECT id, payload … LIMIT 2000)', lanes: 4, batch: 2000 },
  {
    name: 'hash only (SELECT md5(md5(payload)…) for the ids, no write)',
    lanes: 4,
    batch: 2000,
    statement: () => 'SELECT sum(length(md5(md5(payload) || id::text))) FROM events WHERE id = ANY($1::bigint[])',
  },
  {
    name: 'write only (UPDATE … SET col = 1, no hash)',
    lanes: 4,
    batch: 2000,
    statement: (c) => `UPDATE events SET ${c} = 1 WHERE id = ANY($1::bigint[])`,
  },
  {
    name: 'full batch (hash and write), 4 lanes × 2,000',
    lanes: 4,
    batch: 2000,
    statement: (c) => `UPDATE events SET ${c} = length(md5(md5(payload) || id::text))::float8 WHERE id = ANY($1::bigint[])`,
  },
  {
    name: 'full batch, 1 lane × 2,000',
    lanes: 1,
    batch: 2000,
    statement: (c) => `UPDATE events SET ${c} = length(md5(md5(payload) || id::text))::float8 WHERE id = ANY($1::bigint[])`,
  },
  {
    name: 'full batch, 1 lane × 200',
    lanes: 1,
    batch: 200,
    statement: (c) => `UPDATE events SET ${c} = length(md5(md5(payload) || id::text))::float8 WHERE id = ANY($1::bigint[])`,
  },
  {
    name: 'full batch, 1 lane × 200, 20 ms apart',
    lanes: 1,
    batch: 200,
    pauseMs: 20,
    statement: (c) => `UPDATE events SET ${c} = length(md5(md5(payload) || id::text))::float8 WHERE id = ANY($1::bigint[])`,
  },
];

/** A keyset loop over `events` for as long as `running()`; each lane its own slice of ids. */
async function backfill(url: string, load: Load, column: string, running: () => boolean): Promise<number> {
  let done = 0;
  const slice = Math.ceil(ROWS / load.lanes);
  await Promise.all(
    Array.from({ length: load.lanes }, async (_, lane) => {
      const client = new pg.Client({ connectionString: url, application_name: 'bench:backfill' });
      await client.connect();
      let after = lane * slice;
      const end = (lane + 1) * slice;
      while (running() && after < end) {
        const { rows } = await client.query<{ id: string; payload: string }>(
          'SELECT id, payload FROM events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3',
          [after, end, load.batch],
        );
        if (rows.length === 0) break;
        const ids = rows.map((r) => r.id);
        if (load.statement) {
          await client.query('BEGIN');
          await client.query(load.statement(column), [ids]);
          await client.query('COMMIT');
        }
        after = Number(ids[ids.length - 1]);
        done += rows.length;
        if (load.pauseMs) await new Promise((r) => setTimeout(r, load.pauseMs));
      }
      await client.end();
    }),
  );
  return done;
}

function summary(fg: ForegroundResult, waits: Map<string, number>): string {
  return `${fg.p50.toFixed(2)} | ${fg.p95.toFixed(2)} | ${fg.p99.toFixed(2)} | ${fg.loopLagP99.toFixed(1)} | ${topWaits(waits)}`;
}

async function main(): Promise<void> {
  await withForegroundDatabase(
    values.pg!,
    { prefix: 'sluice_bench_anatomy', rows: ROWS, scoreColumns: loads.map((_, i) => `c${i}`) },
    async (db, url) => {
      console.log(`# Anatomy of foreground latency (PostgreSQL)\n`);
      console.log(
        `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; foreground ${RATE} updates/s over 8 connections ${values['in-process'] ? "on the backfill's event loop" : 'in a worker thread'}, ${SECONDS} s per phase\n`,
      );
      console.log("| load | fg p50 ms | fg p95 ms | fg p99 ms | fg loop lag p99 ms | fg sessions' wait events (active) |");
      console.log('| --- | ---: | ---: | ---: | ---: | --- |');
      const phases: Array<Load | undefined> = [undefined, ...loads, undefined];
      for (let i = 0; i < phases.length; i++) {
        const load = phases[i];
        await db.query('VACUUM events');
        await db.query('CHECKPOINT');
        const sampler = sampleWaits(url, { applicationName: 'bench:foreground' });
        let running = true;
        const started = performance.now();
        const work = load ? backfill(url, load, `c${loads.indexOf(load)}`, () => running) : Promise.resolve(0);
        const fg = await runForeground({ url: url, seconds: SECONDS, rate: RATE, inProcess: values['in-process']! });
        running = false;
        const items = await work;
        const waits = await sampler.stop();
        const rate = load ? `${Math.round(items / ((performance.now() - started) / 1000)).toLocaleString('en-US')} items/s` : '';
        console.log(`| ${load ? `${load.name}: ${rate}` : 'idle'} | ${summary(fg, waits)} |`);
      }
    },
  );
}

await main();
