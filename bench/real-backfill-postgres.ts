/**
 * A real backfill on PostgreSQL: a `risk_score` computed in JavaScript for every row of a table and
 * written back, with a checkpoint per batch. Sluice (transactional: the UPDATE and the checkpoint in
 * one transaction) at several concurrencies, against the hand-written keyset loop on one connection
 * and its parallel version (one connection per key range), all with the same batch size and the
 * same UPDATE … FROM unnest(…) per batch, in the same run. bench/real-backfill-peers.ts measures the
 * same variants together with the job queues. `--modes` picks Sluice's delivery modes
 * (`idempotent`: the UPDATE commits on its own and the checkpoints are coalesced); `--sync-commit`
 * adds transactional variants whose batches wait for their WAL flush (the effect of asynchronous commit).
 * `--body-bytes N` gives every row an N-byte text body that the loop and Sluice both read (wide rows).
 *
 *   node --import tsx bench/real-backfill-postgres.ts [--rows 1000000] [--batch-size 1000] [--body-bytes 0] [--runs 3] [--concurrency 1,2,4]
 *     [--modes transactional,idempotent] [--sync-commit]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { bodyBytesArg, rowsLabel } from './row-width.js';
import { median, printTable, type BenchResult } from './report.js';
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

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'batch-size': { type: 'string', default: '1000' },
    'body-bytes': { type: 'string', default: '0' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,2,4' },
    modes: { type: 'string', default: 'transactional,idempotent' },
    'sync-commit': { type: 'boolean', default: false },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const rows = Number(values.rows);
const batchSize = Number(values['batch-size']);
const bodyBytes = bodyBytesArg(values['body-bytes']);
const runs = Number(values.runs);
const lanes = values.concurrency!.split(',').map(Number);
const url = values.pg!;
const modes = sluiceModes(values.modes!, values['sync-commit']!);

const schema = `bench_real_${randomBytes(4).toString('hex')}`;
const table = await createEmailsTable(url, schema, rows, bodyBytes);
const spec: BackfillSpec = { url, schema, table, rows, batchSize, bodyBytes };
try {
  const variants: Array<[string, () => Promise<number>]> = [
    ['hand-written loop, one connection (baseline)', () => handWrittenLoop(spec, 1)],
    ...lanes
      .filter((c) => c > 1)
      .map((c): [string, () => Promise<number>] => [`hand-written loop, ${c} connections over key ranges`, () => handWrittenLoop(spec, c)]),
    ...modes.flatMap((mode) =>
      lanes.map((c): [string, () => Promise<number>] => [sluiceName(c, mode), () => sluiceBackfill(spec, c, mode)]),
    ),
  ];
  const times = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  // Interleaved, so that a slower minute of the machine does not land on one variant.
  for (let run = 0; run < runs; run++) {
    for (const [name, measure] of variants) {
      await resetScores(url, schema, table);
      times.get(name)!.push(await measure());
    }
  }
  const base = median(times.get(variants[0]![0])!);
  const results: BenchResult[] = variants.map(([name]) => {
    const ms = median(times.get(name)!);
    return { name, medianMs: ms, itemsPerSecond: rows / (ms / 1000), ratio: base / ms };
  });
  printTable(
    `A real backfill on PostgreSQL: ${rowsLabel(rows, bodyBytes)} scored in JavaScript and written back, batch size ${batchSize}, median of ${runs}`,
    results,
  );
} finally {
  await dropBenchSchemas(url, schema);
}
