/**
 * `npm run bench` — every benchmark, printed as Markdown tables with ratios against a baseline
 * measured in the same run. `--quick` runs a small smoke version (CI).
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

const quick = process.argv.includes('--quick');
const args = quick ? ['--rows', '50000', '--runs', '1'] : ['--rows', '1000000', '--runs', '7'];

console.log(`# Sluice benchmarks${quick ? ' (quick smoke run)' : ''}\n`);
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}\n`);
const bench = (file: string, benchArgs: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', new URL(file, import.meta.url).pathname, ...benchArgs], { stdio: 'inherit' });

bench('./engine-overhead.ts', args);
// The same no-op comparison on PostgreSQL (store, source table and the loop's checkpoint there).
const pgOverhead = quick ? ['--rows', '20000', '--runs', '1'] : ['--rows', '1000000', '--runs', '5'];
bench('./engine-overhead-postgres.ts', pgOverhead);
// Coalesced checkpoints (delivery: 'idempotent') against loops that checkpoint as seldom.
bench('./engine-overhead.ts', [...args, '--delivery', 'idempotent']);
bench('./engine-overhead-postgres.ts', [...pgOverhead, '--delivery', 'idempotent']);
// Wide rows (a 1,500-byte text column both sides read), transactional: where parsing rows weighs
// more than the bookkeeping. 200,000 rows are 300 MB of table, read 8 times on each store.
const wide = ['--body-bytes', '1500', ...(quick ? ['--rows', '5000', '--runs', '1'] : ['--rows', '200000', '--runs', '7'])];
bench('./engine-overhead.ts', wide);
bench('./engine-overhead-postgres.ts', wide);
// A real backfill on PostgreSQL against the hand-written loop (one connection and in parallel) and
// against the job queues (installed into bench/peers on first use, also in the quick run, which CI
// starts from a fresh clone). It measures everything bench/real-backfill-postgres.ts does, so that
// file is not run again. The queues run in the first round only: about 9 of the 18 minutes this took
// on a loaded 2-core machine (the quick run: under a minute with the install).
// Sluice runs transactional (against the loop) and idempotent (against the queues); the full run
// also measures transactional batches that wait for their WAL flush (what asynchronous commit buys).
bench(
  './real-backfill-peers.ts',
  quick
    ? ['--rows', '10000', '--per-item-rows', '2000', '--runs', '1', '--concurrency', '1,2', '--peer-concurrency', '2']
    : ['--rows', '1000000', '--per-item-rows', '20000', '--runs', '3', '--peer-runs', '1', '--sync-commit'],
);
// The wide-row target: Sluice transactional at one lane against the one-connection loop, rows with
// a 1,500-byte body that both read and score, no queues; 200,000 rows, since each UPDATE rewrites
// 1.5 KB rows (several times slower than on narrow rows: about a minute in all).
bench('./real-backfill-peers.ts', [
  ...(quick ? ['--rows', '2000', '--runs', '1'] : ['--rows', '200000', '--runs', '3']),
  ...['--body-bytes', '1500', '--concurrency', '1', '--modes', 'transactional', '--peers', ''],
]);
// Writing back through ctx.tx on PostgreSQL: row by row against one set-based statement per batch.
bench('./set-based-write.ts', quick ? ['--rows', '5000', '--runs', '1'] : ['--rows', '20000', '--runs', '5']);
// Rows that outlive their batch: what young-generation collections promote during a no-op run
// (load-independent; the regression it guards against cost engine overhead and memory).
bench('./gc-promotion.ts', quick ? ['--rows', '100000'] : []);
// Memory: peak RSS over growing runs, each in a fresh process.
bench('./memory.ts', quick ? ['--sizes', '20000,100000'] : []);
// Resume after SIGKILL: restart to first commit, items processed twice.
bench('./resume.ts', quick ? ['--rows', '60000', '--runs', '1'] : []);
// Delivery to a flaky provider on loopback: per-item outcomes against throwing for the batch, at
// 0 %, 0.6 % and 5 % errors, and a run SIGKILLed mid-batch and restarted.
bench('./item-outcomes.ts', quick ? ['--items', '1000', '--runs', '1', '--kills', '1'] : []);
// Scale-out: one run shared by several workers on PostgreSQL (the quick run: 1 and 2 workers).
bench('./scale-out-workers.ts', quick ? ['--items', '4000', '--workers', '1,2'] : []);
// Foreground protection takes a few minutes and loads the database hard: the full run only.
if (!quick) bench('./foreground-protection.ts', []);
// The foreground trade-off curve: Sluice against seed 002's fixed delay and pt-osc's chunk time, each
// tuned to the same p95 budget (about 8 minutes; the quick run, under a minute, smokes every contender).
bench('./foreground-tradeoff.ts', quick ? ['--quick'] : []);
// What asynchronous batch commit does to the foreground: the same fixed backfills committing each
// way, in alternating pairs of phases (about 4 minutes; the quick run, 10 s, smokes one pair).
bench('./foreground-commit.ts', quick ? ['--quick'] : []);
