/**
 * Foreground protection on PostgreSQL: a foreground workload at a fixed request rate, its p95
 * latency alone (idle), next to an unthrottled backfill, next to Sluice's throttled backfill
 * (a probe of the foreground's own statement, plus postgresHealth), and seed 002's fixed default
 * (5 items every 2 s) for contrast. All in one run, on one scratch database.
 *
 *   node --import tsx bench/foreground-protection.ts [--seconds 8] [--rate 300] [--rows 1000000]
 *     [--rounds 2] [--budgets 1.2]
 *
 * The foreground runs in a worker thread (foreground-load.ts): its own event loop, as another
 * service would have. Idle phases are interleaved with the backfill phases (idle, then each
 * variant followed by an idle phase, `--rounds` times): the machine is shared and its idle
 * latency drifts. Each phase has its own p95 (2,400 samples at 300/s over 8 s); a variant's p95
 * and the idle p95 are the medians of their phases' p95s, so that one phase disturbed by another
 * tenant of the machine moves neither much; every idle phase's p95 is printed too.
 * `--budgets 1.2,2,4` runs Sluice once per budget (× the idle p95) to draw the trade-off curve.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { withForegroundDatabase } from './foreground-database.js';
import { FOREGROUND_CONNECTIONS, percentile, runForeground } from './foreground-load.js';
import { type BackfillVariant, resetBetweenPhases, runPhase, sluiceAdaptiveVariant } from './foreground-phase.js';
import { median } from './report.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rate: { type: 'string', default: '300' },
    rows: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    budgets: { type: 'string', default: '1.2' },
    /** Print the Sluice phases' throttle decisions (to stderr). */
    verbose: { type: 'boolean', default: false },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const ROWS = Number(values.rows);
const ROUNDS = Number(values.rounds);
const BUDGETS = values.budgets!.split(',').map(Number);

async function foreground(url: string, seconds: number): Promise<number[]> {
  return (await runForeground({ url, seconds, rate: RATE })).latencies;
}

async function main(): Promise<void> {
  const scoreColumns = Array.from({ length: BUDGETS.length + 2 }, (_, i) => `score_${i}`);
  await withForegroundDatabase(values.pg!, { prefix: 'sluice_bench_fg', rows: ROWS, scoreColumns }, async (db, url) => {
    console.log(`# Foreground protection (PostgreSQL)\n`);
    console.log(
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; foreground ${RATE} updates/s over ${FOREGROUND_CONNECTIONS} connections (a worker thread), ${SECONDS} s per phase, ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}, ${ROWS.toLocaleString('en-US')} rows to backfill\n`,
    );
    const targetBatchMs = Number(process.env.BENCH_TARGET_BATCH_MS ?? 100);
    const variants: BackfillVariant[] = [
      { name: 'unthrottled (batches of 2,000, 4 lanes, no delay)', batchSize: 2000, concurrency: 4 },
      ...BUDGETS.map((factor) => sluiceAdaptiveVariant(factor, targetBatchMs)),
      { name: "seed 002's fixed default (5 items every 2 s)", batchSize: 5, concurrency: 1, batchDelayMs: 2000 },
    ];
    const reset = () => resetBetweenPhases(db);
    const idlePhases: number[][] = [];
    const idle = async () => {
      await reset();
      idlePhases.push(await foreground(url, SECONDS));
    };
    const pooledIdle = () => idlePhases.flat().sort((a, b) => a - b);
    await idle();
    const results = variants.map((variant) => ({
      variant,
      latencies: [] as number[],
      phaseP95s: [] as number[],
      processed: 0,
      seconds: 0,
      decisions: [] as string[],
    }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, result] of results.entries()) {
        await reset();
        // The probe's budget comes from the idle samples measured so far (as an operator would set it), with no floor.
        const budgetMs = median(idlePhases.map((p) => percentile(p, 95))) * (result.variant.budgetFactor ?? 1.2);
        const measured = await runPhase(result.variant, {
          url,
          schema: 'sluice_bench',
          column: `score_${i}`,
          seconds: SECONDS,
          rate: RATE,
          rows: ROWS,
          budgetMs,
          verbose: values.verbose,
        });
        result.latencies.push(...measured.latencies);
        result.phaseP95s.push(percentile(measured.latencies, 95));
        result.processed += measured.processed;
        result.seconds += measured.seconds;
        result.decisions.push(measured.decisions);
        console.error(
          `round ${round + 1}: ${result.variant.name}: p95 ${percentile(measured.latencies, 95).toFixed(1)} ms, ${Math.round(measured.itemsPerSecond)} items/s, budget ${budgetMs.toFixed(1)} ms`,
        );
        await idle();
      }
    }

    const idleAll = pooledIdle();
    const idlePhaseP95s = idlePhases.map((p) => percentile(p, 95));
    const idleP95 = median(idlePhaseP95s);
    const unthrottled = results[0]!.processed / results[0]!.seconds;
    const lines = [
      '| phase | foreground p50 | foreground p95 (median of phases) | p95 vs idle | backfill items/s | vs unthrottled | throttle decisions (per round) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      `| idle (foreground alone; ${idlePhases.length} phases) | ${percentile(idleAll, 50).toFixed(1)} ms | ${idleP95.toFixed(1)} ms | 1.00× | — | — | — |`,
      ...results.map((r) => {
        const sorted = [...r.latencies].sort((a, b) => a - b);
        const rate = r.processed / r.seconds;
        const p95 = median(r.phaseP95s);
        return `| ${r.variant.name} | ${percentile(sorted, 50).toFixed(1)} ms | ${p95.toFixed(1)} ms (${r.phaseP95s.map((v) => v.toFixed(1)).join(', ')}) | ${(p95 / idleP95).toFixed(2)}× | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / unthrottled).toFixed(2)}× | ${r.variant.adaptive ? r.decisions.join(' · ') : '—'} |`;
      }),
    ];
    console.log(lines.join('\n'));
    console.log(`\nidle p95 of each idle phase, in order: ${idlePhaseP95s.map((v) => v.toFixed(1)).join(', ')} ms.`);
    console.log(
      "Probe budget: the factor shown × the median p95 of the idle phases measured before the phase. Targets: Sluice's p95 ≤ 1.2× idle, Sluice ≥ 0.70× unthrottled throughput.",
    );
  });
}

await main();
