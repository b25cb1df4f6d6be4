/**
 * Foreground protection as a trade-off curve (issue 20): at foreground p95 budgets of 1.2×, 1.5×
 * and 2× the idle p95, Sluice's adaptive controller (its probe's budget set to that budget) against
 * the fixed throttles a user would otherwise set, each tuned to the largest throughput whose
 * measured p95 stays within the same budget:
 *
 * - seed 002's fixed delay: batches of `--fixed-batch` items on 2 lanes (its runbook's
 *   BACKFILL_MAX_CONCURRENT default), a fixed delay after each batch; the knob searched is the
 *   delay (`--delays`);
 * - pt-online-schema-change's chunk time: one lane, no pause, the batch size adapted so that each
 *   batch takes the chunk time (Sluice's adaptive controller with no signal, which sizes batches as
 *   pt-osc's `--chunk-time` does); the knob searched is the chunk time (`--chunk-ms`).
 *
 * A fixed setting's p95 does not depend on the budget, so each ladder is measured once per round
 * and shared by every budget; a budget's tuned setting is the fastest whose p95 is within it,
 * picked afterwards from the same measurements. That favours the fixed throttles (a fast setting
 * that noise put under the budget is never measured again), so a win for Sluice is not an artefact.
 * The phases are those of bench/foreground-protection.ts: the foreground in a worker thread, idle
 * phases interleaved, every p95 the median of its phases' p95s, every backfill a fresh run.
 *
 *   node --import tsx bench/foreground-tradeoff.ts [--quick] [--seconds 6] [--rounds 2] [--rows 1000000]
 *     [--budgets 1.2,1.5,2] [--delays 0,25,100,400,1600] [--chunk-ms 500,100,30,10,3] [--fixed-batch 500] [--sync-commit]
 *     [--budget-percentile 95] [--start-share 0.5] [--budget-decrease 0.7] [--surge RATE,FOR_S,EVERY_S]
 *
 * Each Sluice phase prints the share of the foreground's requests over its budget, over the whole
 * phase and over its last three quarters (the controller settled). `--start-share` and
 * `--budget-decrease` set the controller's; `--surge 1500,5,20` gives the foreground 1,500
 * requests a second for 5 s of every 20 (idle phases too), where a fixed throttle must be set for
 * the surge and an adaptive one need not.
 *
 * Every backfill's batch transactions commit as the PostgreSQL store's default does, with
 * `synchronous_commit = off`; `--sync-commit` makes every one of them wait for its WAL flush, which
 * shows what asynchronous commit does to the foreground (whose synchronous commits then flush the
 * backfill's WAL too).
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { withForegroundDatabase } from './foreground-database.js';
import { percentile, runForeground } from './foreground-load.js';
import {
  type AdaptiveTuning,
  foregroundLabel,
  PHASE_ARGS,
  phaseShape,
  resetBetweenPhases,
  runPhase,
  sluiceAdaptiveVariant,
} from './foreground-phase.js';
import { median } from './report.js';
import { type Contender, printCurve } from './foreground-tradeoff-report.js';

const { values } = parseArgs({
  options: {
    ...PHASE_ARGS,
    budgets: { type: 'string' },
    delays: { type: 'string' },
    'chunk-ms': { type: 'string' },
    'fixed-batch': { type: 'string', default: '500' },
    verbose: { type: 'boolean', default: false },
    'sync-commit': { type: 'boolean', default: false },
    'budget-percentile': { type: 'string' },
    'start-share': { type: 'string' },
    'budget-decrease': { type: 'string' },
  },
});
const shape = phaseShape(values, { rounds: 2, rows: 1_000_000, quickRows: 100_000 });
const { quick } = shape;
/** A comma-separated list of numbers; `''` is none (`--delays ''` leaves seed 002's throttle out). */
const numbers = (list: string): number[] =>
  list
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
const BUDGETS = numbers(values.budgets ?? (quick ? '1.5' : '1.2,1.5,2'));
const DELAYS = numbers(values.delays ?? (quick ? '0,400' : '0,25,100,400,1600'));
const CHUNKS = numbers(values['chunk-ms'] ?? (quick ? '100,10' : '500,100,30,10,3'));
const FIXED_BATCH = Number(values['fixed-batch']);
const TARGET_BATCH_MS = Number(process.env.BENCH_TARGET_BATCH_MS ?? 100);
/**
 * The controller's knobs given (Sluice's defaults for the rest): the shortest batch, the percentile
 * it holds its probe's readings to (95), the share of full speed it starts at (0.5) and its factor
 * after a reading over budget (0.7).
 */
const TUNING: AdaptiveTuning = Object.fromEntries(
  Object.entries({
    minBatchMs: process.env.BENCH_MIN_BATCH_MS,
    budgetPercentile: values['budget-percentile'],
    startShare: values['start-share'],
    budgetDecrease: values['budget-decrease'],
  }).flatMap(([knob, given]) => (given === undefined ? [] : [[knob, Number(given)]])),
);

const unthrottled: Contender = {
  group: 'unthrottled',
  setting: 'batches of 2,000, 4 lanes, no delay',
  variant: { name: 'unthrottled', batchSize: 2000, concurrency: 4 },
};
const sluice = BUDGETS.map(
  (factor): Contender => ({
    group: 'sluice',
    setting: `budget ${factor} × idle p95`,
    factor,
    variant: sluiceAdaptiveVariant(factor, TARGET_BATCH_MS, TUNING),
  }),
);
const seed002 = DELAYS.map(
  (delay): Contender => ({
    group: 'seed 002',
    setting: `${FIXED_BATCH} items on 2 lanes, ${delay} ms after each batch`,
    variant: { name: `seed 002, delay ${delay} ms`, batchSize: FIXED_BATCH, concurrency: 2, ...(delay > 0 ? { batchDelayMs: delay } : {}) },
  }),
);
const ptOsc = CHUNKS.map(
  (chunkMs): Contender => ({
    group: 'pt-osc',
    setting: `chunk time ${chunkMs} ms (1 lane, no pause)`,
    variant: { name: `pt-osc, chunk time ${chunkMs} ms`, batchSize: 1000, concurrency: 1, adaptive: { targetBatchMs: chunkMs } },
  }),
);

/**
 * The share of the foreground's requests slower than the budget: a p95 budget allows 5 %, and the
 * controller's loop aims at that share of its probe's readings.
 */
function overBudget(latencies: readonly number[], budgetMs: number): string {
  return `${((latencies.filter((ms) => ms > budgetMs).length / latencies.length) * 100).toFixed(1)} %`;
}

/** Round-robin over the groups, so that a slower minute of the machine does not land on one of them. */
function interleave(groups: readonly (readonly Contender[])[]): Contender[][] {
  const longest = Math.max(...groups.map((g) => g.length));
  return Array.from({ length: longest }, (_, i) => groups.flatMap((g) => (i < g.length ? [g[i]!] : [])));
}

async function main(): Promise<void> {
  const order = [...(quick ? [] : [unthrottled]), ...interleave([sluice, seed002, ptOsc]).flat()].map(
    (c): Contender => (values['sync-commit'] ? { ...c, variant: { ...c.variant, asyncBatchCommit: false } } : c),
  );
  const columns = order.map((_, i) => `score_${i}`);
  const started = performance.now();
  await withForegroundDatabase(shape.pg, { prefix: 'sluice_bench_tradeoff', rows: shape.rows, scoreColumns: columns }, async (db, url) => {
    console.log(`# Foreground protection as a trade-off curve (PostgreSQL)${quick ? ' (quick smoke run)' : ''}\n`);
    console.log(
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )}; ${foregroundLabel(shape)}, ${shape.seconds} s per phase, ${shape.rounds} round${shape.rounds === 1 ? '' : 's'}, ${shape.rows.toLocaleString('en-US')} rows, batch transactions committing ${values['sync-commit'] ? 'synchronously (--sync-commit)' : "asynchronously (the store's default)"}, Sluice holding its probe to p${TUNING.budgetPercentile ?? 95}\n`,
    );
    const idlePhases: number[] = [];
    const idle = async () => {
      await resetBetweenPhases(db);
      idlePhases.push(
        percentile((await runForeground({ url, seconds: shape.seconds, rate: shape.rate, surge: shape.surge })).latencies, 95),
      );
    };
    const measured = new Map<Contender, { p95s: number[]; processed: number; seconds: number }>(
      order.map((c) => [c, { p95s: [], processed: 0, seconds: 0 }]),
    );
    await idle();
    for (let round = 0; round < shape.rounds; round++) {
      for (const [i, contender] of order.entries()) {
        await resetBetweenPhases(db);
        // The probe's budget comes from the idle phases measured so far (as an operator would set it),
        // and is the budget the phase is judged by: no floor, or a fast machine would judge Sluice by a
        // budget tighter than the one it was given.
        const budgetMs = median(idlePhases) * (contender.factor ?? 1);
        const phase = await runPhase(contender.variant, {
          url,
          schema: 'sluice_bench',
          column: columns[i]!,
          seconds: shape.seconds,
          rate: shape.rate,
          surge: shape.surge,
          rows: shape.rows,
          budgetMs,
          fresh: true,
          verbose: values.verbose,
        });
        const m = measured.get(contender)!;
        m.p95s.push(percentile(phase.latencies, 95));
        m.processed += phase.processed;
        m.seconds += phase.seconds;
        console.error(
          `round ${round + 1}: ${contender.group}, ${contender.setting}: p95 ${m.p95s.at(-1)!.toFixed(1)} ms, ${Math.round(phase.itemsPerSecond)} items/s${contender.factor ? `, probe budget ${budgetMs.toFixed(1)} ms, ${overBudget(phase.latencies, budgetMs)} of requests over it (${overBudget(phase.inOrder.slice(phase.inOrder.length >> 2), budgetMs)} in the last three quarters of the phase)` : ''}`,
        );
        await idle();
      }
    }
    printCurve({
      idlePhaseP95s: idlePhases,
      budgets: BUDGETS,
      results: order.map((c) => {
        const m = measured.get(c)!;
        return { contender: c, p95: median(m.p95s), phaseP95s: m.p95s, itemsPerSecond: m.processed / m.seconds };
      }),
    });
  });
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s, load average at the end ${loadavg()[0]!.toFixed(2)})\n`);
}

await main();
