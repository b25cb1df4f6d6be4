/**
 * The real backfill on PostgreSQL (see bench/real-backfill-postgres.ts) measured against the job
 * queues a user would pick instead, in one run so that every ratio is against the same baseline:
 * the hand-written keyset loop (one connection, and one connection per key range), Sluice at
 * several concurrencies, and graphile-worker, pg-boss and BullMQ (on Redis and on PostgreSQL), each
 * job-per-batch (one job per `batch-size` ids, over the whole table) and job-per-item (one job per
 * row, over the first `per-item-rows` rows only: these do a few thousand jobs a second, so a million
 * would take many minutes; compare their items/s). The queues are installed into bench/peers on
 * first use. Variants are interleaved; the queues, being slow, run in the first `peer-runs` rounds.
 *
 *   node --import tsx bench/real-backfill-peers.ts [--rows 1000000] [--per-item-rows 20000] [--batch-size 1000] [--body-bytes 0]
 *     [--runs 3] [--peer-runs 1] [--concurrency 1,2,4] [--peer-concurrency 1,2,4]
 *     [--peers graphile-worker,pg-boss,bullmq-redis,bullmq-postgres] [--modes transactional,idempotent] [--sync-commit]
 *
 * Sluice runs in each of `--modes`: `transactional` (exactly once, compared with the hand-written
 * loop) and `idempotent` (at least once with coalesced checkpoints, compared with the queues, which
 * deliver at least once too); `--sync-commit` adds transactional variants whose batches wait for
 * their WAL flush, to show what asynchronous commit changes. `--body-bytes 1500` gives every row a
 * 1,500-byte text body that every variant reads and scores (wide rows; bench/row-width.ts), and
 * names the targets "on wide rows"; `--peers ''` leaves the queues out (no install).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { JobShape, PeerAdapter } from './peer-adapter.js';
import { ensurePeersInstalled, peersDir } from './peer-install.js';
import { measurePeer } from './peer-run.js';
import {
  createEmailsTable,
  dropBenchSchemas,
  handWrittenLoop,
  resetScores,
  sluiceBackfill,
  sluiceModes,
  sluiceName,
  type BackfillSpec,
} from './real-backfill-shared.js';
import { bodyBytesArg, rowsLabel } from './row-width.js';
import { median, printTable, type BenchResult } from './report.js';
import { printTargets, type MeasuredVariant } from './real-backfill-targets.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'per-item-rows': { type: 'string', default: '20000' },
    'batch-size': { type: 'string', default: '1000' },
    'body-bytes': { type: 'string', default: '0' },
    runs: { type: 'string', default: '3' },
    'peer-runs': { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '1,2,4' },
    'peer-concurrency': { type: 'string' },
    peers: { type: 'string', default: 'graphile-worker,pg-boss,bullmq-redis,bullmq-postgres' },
    modes: { type: 'string', default: 'transactional,idempotent' },
    'sync-commit': { type: 'boolean', default: false },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: process.env.SLUICE_TEST_REDIS ?? 'redis://127.0.0.1:6379' },
  },
});
const rows = Number(values.rows);
const perItemRows = Math.min(rows, Number(values['per-item-rows']));
const batchSize = Number(values['batch-size']);
const bodyBytes = bodyBytesArg(values['body-bytes']);
const runs = Number(values.runs);
const peerRuns = Math.min(runs, Number(values['peer-runs']));
const lanes = values.concurrency!.split(',').map(Number);
const peerLanes = (values['peer-concurrency'] ?? values.concurrency!).split(',').map(Number);
const peerNames = values.peers!.split(',').filter(Boolean);
const url = values.pg!;
const modes = sluiceModes(values.modes!, values['sync-commit']!);

// `--peers ''` measures the loop and Sluice alone, without installing the queues.
if (peerNames.length > 0) ensurePeersInstalled();
// Imported by path, after the install: the root type-check does not follow into bench/peers.
const peers = await Promise.all(
  peerNames.map(async (name) => ({
    name,
    adapter: ((await import(pathToFileURL(join(peersDir, `${name}.ts`)).href)) as { adapter: PeerAdapter }).adapter,
  })),
);

interface Variant extends MeasuredVariant {
  measure: () => Promise<number>;
  peer: boolean;
  settings?: string;
}

const schema = `bench_peers_${randomBytes(4).toString('hex')}`;
const table = await createEmailsTable(url, schema, rows, bodyBytes);
const spec: BackfillSpec = { url, schema, table, rows, batchSize, bodyBytes };
let runCount = 0;
const peerVariant = (name: string, adapter: PeerAdapter, shape: JobShape, concurrency: number): Variant => {
  const items = shape === 'per-item' ? perItemRows : rows;
  const shown = shape === 'per-item' ? adapter.perItemConcurrency : concurrency;
  return {
    name:
      shape === 'per-item'
        ? `${adapter.label}, job-per-item, concurrency ${shown} (first ${items.toLocaleString('en-US')} rows only)`
        : `${adapter.label}, job-per-batch, concurrency ${shown}`,
    kind: shape,
    concurrency: shown,
    items,
    peer: true,
    settings: adapter.describe(shape, concurrency),
    measure: () =>
      measurePeer(adapter, {
        pgUrl: url,
        redisUrl: values.redis!,
        namespace: `${schema}_${name.replaceAll('-', '_')}_${++runCount}`,
        table,
        shape,
        rows: items,
        batchSize,
        concurrency,
        bodyBytes,
      }),
  };
};
const variants: Variant[] = [
  ...lanes.map(
    (c): Variant => ({
      name: c === 1 ? 'hand-written loop, one connection (baseline)' : `hand-written loop, ${c} connections over key ranges`,
      kind: 'loop',
      concurrency: c,
      items: rows,
      peer: false,
      measure: () => handWrittenLoop(spec, c),
    }),
  ),
  ...modes.flatMap((mode) =>
    lanes.map(
      (c): Variant => ({
        name: sluiceName(c, mode),
        kind: mode.delivery === 'idempotent' ? 'sluice-idempotent' : mode.syncCommit ? 'sluice-sync' : 'sluice',
        concurrency: c,
        items: rows,
        peer: false,
        measure: () => sluiceBackfill(spec, c, mode),
      }),
    ),
  ),
  ...peers.flatMap(({ name, adapter }) => peerLanes.map((c) => peerVariant(name, adapter, 'per-batch', c))),
  ...peers.map(({ name, adapter }) => peerVariant(name, adapter, 'per-item', 1)),
];
if (variants[0]!.kind !== 'loop' || variants[0]!.concurrency !== 1)
  throw new Error('--concurrency must start with 1: the one-connection loop is the baseline');

try {
  const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  // Interleaved, so that a slower minute of the machine does not land on one variant.
  for (let run = 0; run < runs; run++) {
    for (const variant of variants) {
      if (variant.peer && run >= peerRuns) continue;
      await resetScores(url, schema, table);
      const ms = await variant.measure();
      times.get(variant)!.push(ms);
      // Progress on stderr (the run takes minutes); stdout stays the tables.
      console.error(`  round ${run + 1}: ${variant.name}: ${(ms / 1000).toFixed(2)} s`);
    }
  }
  const baseline = rows / (median(times.get(variants[0]!)!) / 1000);
  const results: Array<BenchResult & MeasuredVariant> = variants.map((v) => {
    const ms = median(times.get(v)!);
    const itemsPerSecond = v.items / (ms / 1000);
    return { ...v, medianMs: ms, itemsPerSecond, ratio: itemsPerSecond / baseline };
  });
  const work = `${rowsLabel(rows, bodyBytes)} scored in JavaScript and written back, batch size ${batchSize}`;
  printTable(
    peers.length === 0
      ? `A real backfill on PostgreSQL: ${work}; median of ${runs}`
      : `A real backfill on PostgreSQL against job queues: ${work}; loop and Sluice median of ${runs}, queues median of ${peerRuns}; ` +
          `job-per-item over the first ${perItemRows.toLocaleString('en-US')} rows only, ratios are items/s against the baseline's`,
    results,
  );
  if (peers.length > 0) {
    console.log('Queue settings:');
    for (const v of variants.filter((x) => x.settings)) console.log(`- ${v.name}: ${v.settings}`);
    console.log('');
  }
  printTargets(results, bodyBytes);
} finally {
  await dropBenchSchemas(url, schema);
}
