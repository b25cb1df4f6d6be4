/**
 * What asynchronous commit of Sluice's batch transactions does to the foreground (issue 20): the
 * same fixed backfill next to the foreground, its batch transactions committing with
 * `synchronous_commit = off` (the PostgreSQL store's default, `asyncBatchCommit`) or waiting for
 * their WAL flush (`asyncBatchCommit: false`). No controller adapts, so the difference shows in the
 * foreground's latency and the backfill's throughput instead of being steered away.
 *
 * The two modes run as a pair of phases per backfill setting and round, in an order that alternates
 * from round to round (async first, then sync first), so that a drifting machine weighs on both.
 * The verdict is the median over pairs of each pair's ratio (sync ÷ async): a pair's phases are
 * seconds apart, so their ratio carries less of the machine's noise than two medians do.
 * A sampler counts what the foreground's sessions wait on (bench/pg-waits.ts): its own
 * synchronous commits wait for the WAL flush (`IO:WALSync`), and for the WAL writer's lock
 * (`LWLock:WALWrite`) while another session's flush holds it.
 *
 *   node --import tsx bench/foreground-commit.ts [--quick] [--seconds 6] [--rounds 4] [--rows 2000000] [--settings full,seed002,paced]
 *     [--surge RATE,FOR_S,EVERY_S]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { withForegroundDatabase } from './foreground-database.js';
import { percentile, runForeground } from './foreground-load.js';
import { type BackfillVariant, foregroundLabel, PHASE_ARGS, phaseShape, resetBetweenPhases, runPhase } from './foreground-phase.js';
import { sampleWaits, topWaits, waitShare } from './pg-waits.js';
import { median } from './report.js';

const SETTINGS: Record<string, { label: string; variant: Omit<BackfillVariant, 'name' | 'asyncBatchCommit'> }> = {
  full: { label: 'unthrottled: batches of 2,000 on 4 lanes', variant: { batchSize: 2000, concurrency: 4 } },
  seed002: { label: "seed 002's batches, no delay: 500 items on 2 lanes", variant: { batchSize: 500, concurrency: 2 } },
  paced: {
    label: "seed 002's batches, paced: 500 items on 2 lanes, 25 ms after each",
    variant: { batchSize: 500, concurrency: 2, batchDelayMs: 25 },
  },
};

const { values } = parseArgs({ options: { ...PHASE_ARGS, settings: { type: 'string' } } });
// Flat out, a backfill writes about 200,000 rows a second: a 6 s phase must not run out of them.
const shape = phaseShape(values, { rounds: 4, rows: 2_000_000, quickRows: 600_000 });
const { quick } = shape;
const settingNames = (values.settings ?? (quick ? 'full' : 'full,seed002,paced')).split(',').filter(Boolean);
for (const name of settingNames) {
  if (!SETTINGS[name]) throw new Error(`--settings: ${Object.keys(SETTINGS).join(' or ')}, got ${name}`);
}

type Mode = 'async' | 'sync';
const MODE_LABEL: Record<Mode, string> = {
  async: 'asynchronous (`synchronous_commit = off`, the default)',
  sync: 'synchronous (waits for its WAL flush)',
};
/** The foreground's waits on the WAL: its own flush, the WAL writer's lock, writing WAL out. */
const WAL_WAITS = /WAL/;

interface Phase {
  p50: number;
  p95: number;
  p99: number;
  itemsPerSecond: number;
  waits: Map<string, number>;
}

/** The wait-event samples of several phases, added up. */
function waitsOf(list: readonly Phase[]): Map<string, number> {
  const all = new Map<string, number>();
  for (const p of list) for (const [k, v] of p.waits) all.set(k, (all.get(k) ?? 0) + v);
  return all;
}

async function main(): Promise<void> {
  const cells = settingNames.flatMap((setting) => (['async', 'sync'] as const).map((mode) => ({ setting, mode })));
  const columns = new Map(cells.map((c, i) => [`${c.setting}/${c.mode}`, `score_${i}`]));
  const started = performance.now();
  await withForegroundDatabase(
    shape.pg,
    { prefix: 'sluice_bench_commit', rows: shape.rows, scoreColumns: [...columns.values()] },
    async (db, url) => {
      console.log(`# Asynchronous batch commit and the foreground (PostgreSQL)${quick ? ' (quick smoke run)' : ''}\n`);
      console.log(
        `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average at start ${loadavg()
          .map((l) => l.toFixed(2))
          .join(
            ' ',
          )}; ${foregroundLabel(shape)}, ${shape.seconds} s per phase, ${shape.rounds} round${shape.rounds === 1 ? '' : 's'} of a pair per setting, ${shape.rows.toLocaleString('en-US')} rows\n`,
      );
      const idleP95s: number[] = [];
      const idle = async () => {
        await resetBetweenPhases(db);
        idleP95s.push((await runForeground({ url, seconds: shape.seconds, rate: shape.rate, surge: shape.surge })).p95);
      };
      const phases = new Map<string, Phase[]>([...columns.keys()].map((k) => [k, []]));
      const phase = async (setting: string, mode: Mode, round: number) => {
        await resetBetweenPhases(db);
        const sampler = sampleWaits(url, { applicationName: 'bench:foreground' });
        const result = await runPhase(
          { name: `${setting}, ${mode}`, ...SETTINGS[setting]!.variant, asyncBatchCommit: mode === 'async' },
          {
            url,
            schema: 'sluice_bench',
            column: columns.get(`${setting}/${mode}`)!,
            seconds: shape.seconds,
            rate: shape.rate,
            surge: shape.surge,
            rows: shape.rows,
            budgetMs: 0,
            fresh: true,
          },
        );
        const waits = await sampler.stop();
        const measured: Phase = {
          p50: percentile(result.latencies, 50),
          p95: percentile(result.latencies, 95),
          p99: percentile(result.latencies, 99),
          itemsPerSecond: result.itemsPerSecond,
          waits,
        };
        phases.get(`${setting}/${mode}`)!.push(measured);
        console.error(
          `round ${round + 1}: ${setting}, ${mode} commit: foreground p95 ${measured.p95.toFixed(1)} ms, ${Math.round(measured.itemsPerSecond)} items/s, foreground WAL waits ${Math.round(100 * waitShare(waits, WAL_WAITS))} %`,
        );
      };
      await idle();
      for (let round = 0; round < shape.rounds; round++) {
        for (const setting of settingNames) {
          const order: Mode[] = round % 2 === 0 ? ['async', 'sync'] : ['sync', 'async'];
          for (const mode of order) await phase(setting, mode, round);
        }
        await idle();
      }

      const idleP95 = median(idleP95s);
      console.log(`idle p95 (median of ${idleP95s.length} phases): ${idleP95.toFixed(2)} ms\n`);
      console.log(
        '| backfill | batch transactions commit | foreground p50 | foreground p95 (median; phases) | p95 vs idle | foreground p99 | foreground WAL waits | backfill items/s |',
      );
      console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const { setting, mode } of cells) {
        const list = phases.get(`${setting}/${mode}`)!;
        const p95 = median(list.map((p) => p.p95));
        const waits = waitsOf(list);
        console.log(
          `| ${SETTINGS[setting]!.label} | ${MODE_LABEL[mode]} | ${median(list.map((p) => p.p50)).toFixed(2)} ms | ${p95.toFixed(2)} ms (${list.map((p) => p.p95.toFixed(1)).join(', ')}) | ${(p95 / idleP95).toFixed(2)}× | ${median(list.map((p) => p.p99)).toFixed(2)} ms | ${Math.round(100 * waitShare(waits, WAL_WAITS))} % | ${Math.round(median(list.map((p) => p.itemsPerSecond))).toLocaleString('en-US')} |`,
        );
      }
      console.log('\nThe effect of synchronous batch commits, per pair of phases (sync ÷ async), median over rounds:\n');
      for (const setting of settingNames) {
        const asyncPhases = phases.get(`${setting}/async`)!;
        const syncPhases = phases.get(`${setting}/sync`)!;
        const pairs = asyncPhases.map((a, i) => ({ a, s: syncPhases[i]! }));
        const p95Ratios = pairs.map(({ a, s }) => s.p95 / a.p95);
        const throughputRatios = pairs.map(({ a, s }) => s.itemsPerSecond / a.itemsPerSecond);
        console.log(
          `- ${SETTINGS[setting]!.label}: foreground p95 ${median(p95Ratios).toFixed(2)}× (pairs ${p95Ratios.map((r) => r.toFixed(2)).join(', ')}), backfill items/s ${median(throughputRatios).toFixed(2)}× (pairs ${throughputRatios.map((r) => r.toFixed(2)).join(', ')})`,
        );
        console.log(
          `  - the foreground's waits, asynchronous: ${topWaits(waitsOf(asyncPhases), 3)}; synchronous: ${topWaits(waitsOf(syncPhases), 3)}`,
        );
      }
    },
  );
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s, load average at the end ${loadavg()[0]!.toFixed(2)})\n`);
}

await main();
