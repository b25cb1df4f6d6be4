/**
 * One phase of the foreground benchmarks: a Sluice backfill of `events` with given knobs, run for
 * as long as the foreground runs next to it; and what the phases share (the probe of the
 * foreground's own statement that Sluice's adaptive controller steers on, the reset between
 * phases). Used by bench/foreground-protection.ts and bench/foreground-tradeoff.ts.
 */
import pg from 'pg';
import { FOREGROUND_CONNECTIONS, runForeground, type Surge, surgeArg } from './foreground-load.js';
import { createSluice, defineBackfill, isSluiceError, probe, sqlKeyset, type HealthSignal } from '../src/index.js';
import { postgresHealth } from '../src/postgres.js';
import { openPostgresStore } from '../src/stores/postgres/index.js';

/**
 * The options foreground-tradeoff.ts and foreground-commit.ts share: a smoke run (`--quick`, CI),
 * the phases' length, rounds and rows, the foreground's rate, and the database. Spread into a
 * parseArgs `options`; read back with `phaseShape`.
 */
export const PHASE_ARGS = {
  /** A smoke run in under a minute (CI): short phases, one round, fewer variants. */
  quick: { type: 'boolean', default: false },
  seconds: { type: 'string' },
  rounds: { type: 'string' },
  rows: { type: 'string' },
  rate: { type: 'string', default: '300' },
  /** `RATE,FOR_S,EVERY_S`: a surge of the foreground at intervals (foreground-load.ts); none by default. */
  surge: { type: 'string' },
  pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
} as const;

export interface PhaseShape {
  quick: boolean;
  seconds: number;
  rounds: number;
  rows: number;
  /** Foreground requests per second. */
  rate: number;
  /** The foreground's surges, if any. */
  surge: Surge | undefined;
  pg: string;
}

/** The phases' shape from the parsed `PHASE_ARGS`: what was given, else the benchmark's defaults (1.5 s phases and one round when quick). */
export function phaseShape(
  values: { quick: boolean; seconds?: string; rounds?: string; rows?: string; rate: string; surge?: string; pg: string },
  defaults: { rounds: number; rows: number; quickRows: number },
): PhaseShape {
  // `quick`, `rate` and `pg` always have a value: PHASE_ARGS gives their defaults.
  const { quick } = values;
  return {
    quick,
    seconds: Number(values.seconds ?? (quick ? 1.5 : 6)),
    rounds: Number(values.rounds ?? (quick ? 1 : defaults.rounds)),
    rows: Number(values.rows ?? (quick ? defaults.quickRows : defaults.rows)),
    rate: Number(values.rate),
    surge: surgeArg(values.surge),
    pg: values.pg,
  };
}

/** The foreground as the benchmarks' headers describe it: its rate, its surges, its connections. */
export function foregroundLabel(shape: Pick<PhaseShape, 'rate' | 'surge'>): string {
  const { surge } = shape;
  return `foreground ${shape.rate} updates/s${surge ? ` (${surge.rate}/s for ${surge.forS} s of every ${surge.everyS})` : ''} over ${FOREGROUND_CONNECTIONS} connections (a worker thread)`;
}

/** The adaptive controller's knobs a benchmark may set besides its batch target (Sluice's defaults otherwise). */
export interface AdaptiveTuning {
  minBatchMs?: number;
  budgetPercentile?: number;
  startShare?: number;
  budgetDecrease?: number;
}

export interface BackfillVariant {
  name: string;
  batchSize: number;
  concurrency: number;
  batchDelayMs?: number;
  /** The health signals, connected before the phase starts (so that no reading includes connecting). */
  signals?: (url: string, budgetMs: number) => Promise<HealthSignal[]>;
  adaptive?: { targetBatchMs: number } & AdaptiveTuning;
  /** The probe's budget as a multiple of the idle p95. */
  budgetFactor?: number;
  /** Whether batch transactions commit with `synchronous_commit = off` (the store's default: yes). */
  asyncBatchCommit?: boolean;
}

export interface PhaseOptions {
  url: string;
  /** The store's schema. */
  schema: string;
  /** The float column of `events` the backfill writes. */
  column: string;
  seconds: number;
  /** Foreground requests per second. */
  rate: number;
  /** The foreground's surges, if any. */
  surge?: Surge | undefined;
  /** The rows of `events` (a backfill that finishes them within the phase is warned about). */
  rows: number;
  /** The probe's budget (ms), for variants with signals. */
  budgetMs: number;
  /** A new run every phase, cancelled at its end (instead of one run stopped and continued). */
  fresh?: boolean;
  /** Print the throttle decisions to stderr. */
  verbose?: boolean;
}

export interface PhaseResult {
  /** The foreground's latencies (ms), sorted. */
  latencies: number[];
  /** The same in the order the requests completed. */
  inOrder: number[];
  itemsPerSecond: number;
  processed: number;
  seconds: number;
  decisions: string;
}

/** Each phase starts from the same state: the previous phase's dead rows vacuumed, its WAL checkpointed. */
export async function resetBetweenPhases(db: pg.Client): Promise<void> {
  await db.query('VACUUM events');
  await db.query('CHECKPOINT');
}

/**
 * Sluice's adaptive variant: starts at batches of 2,000 on 4 lanes, aims at `targetBatchMs`
 * batches, and steers on a probe running the foreground's own statement against the budget the
 * phase gives it (`factor` × the idle p95), stopping at 5 × the budget, with `postgresHealth`.
 */
export function sluiceAdaptiveVariant(factor: number, targetBatchMs: number, tuning: AdaptiveTuning = {}): BackfillVariant {
  return {
    name: `Sluice adaptive, budget ${factor} × idle p95`,
    batchSize: 2000,
    concurrency: 4,
    adaptive: { targetBatchMs, ...tuning },
    budgetFactor: factor,
    signals: async (url, budget) => {
      const probeClient = new pg.Client({ connectionString: url, application_name: 'bench:probe' });
      probeClient.on('error', () => undefined);
      await probeClient.connect();
      return [
        {
          ...probe({
            name: 'foreground',
            budgetMs: budget,
            stopMs: budget * 5,
            window: 10,
            run: async () => {
              await probeClient.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [1 + Math.floor(Math.random() * 10_000)]);
            },
          }),
          close: () => probeClient.end(),
        },
        postgresHealth({ connectionString: url, onError: 'continue' }),
      ];
    },
  };
}

/** Runs the backfill next to the foreground for `seconds`; returns items/s and the foreground's latencies. */
export async function runPhase(variant: BackfillVariant, options: PhaseOptions): Promise<PhaseResult> {
  const { url, column } = options;
  const store = await openPostgresStore({
    connectionString: url,
    schema: options.schema,
    poolSize: variant.concurrency + 2,
    ...(variant.asyncBatchCommit !== undefined ? { asyncBatchCommit: variant.asyncBatchCommit } : {}),
  });
  const signals = (await variant.signals?.(url, options.budgetMs)) ?? [];
  const def = defineBackfill<{ id: string; payload: string }>({
    name: `bench-${column}`,
    source: sqlKeyset({ table: 'events', key: 'id', columns: ['id', 'payload'] }),
    delivery: 'transactional',
    batchSize: variant.batchSize,
    concurrency: variant.concurrency,
    throttle: {
      ...(variant.batchDelayMs ? { batchDelayMs: variant.batchDelayMs } : {}),
      signals,
      signalIntervalMs: 100,
      ...(variant.adaptive ? { adaptive: variant.adaptive } : {}),
    },
    async process(batch, ctx) {
      // A little work per row in the database: a hash of the payload, written back.
      await ctx.tx!.query(`UPDATE events SET ${column} = length(md5(md5(payload) || id::text))::float8 WHERE id = ANY(?::bigint[])`, [
        batch.map((r) => r.id),
      ] as never);
    },
  });
  const sluice = createSluice({ store, backfills: [def] });
  try {
    const handle = await sluice.start(def.name, options.fresh ? { newRun: true } : {}).catch((error: unknown) => {
      // An earlier phase of this column went through every row (the warning below says so): this
      // one writes them again in a new run rather than ending the whole benchmark.
      if (!(isSluiceError(error) && error.code === 'RUN_ALREADY_SUCCEEDED')) throw error;
      console.warn(`warning: ${variant.name}: every row of ${column} was done by an earlier phase; writing them again in a new run`);
      return sluice.start(def.name, { newRun: true, reprocess: 'all' });
    });
    const started = performance.now();
    const { latencies, inOrder } = await runForeground({ url, seconds: options.seconds, rate: options.rate, surge: options.surge });
    if (options.fresh) handle.cancel('bench', 'phase over');
    else handle.stop('bench', 'phase over');
    const outcome = await handle.done;
    const seconds = (performance.now() - started) / 1000;
    const decisions = await store.listDecisions(outcome.runId, 10_000);
    const count = (kind: string) => decisions.filter((d) => d.kind === kind).length;
    if (options.verbose) for (const d of [...decisions].reverse()) console.error(`  ${d.kind}: ${d.reason}`);
    if (outcome.counts.processed >= options.rows)
      console.warn(`warning: ${variant.name} finished all ${options.rows} rows within the phase; use more --rows`);
    return {
      latencies,
      inOrder,
      itemsPerSecond: outcome.counts.processed / seconds,
      processed: outcome.counts.processed,
      seconds,
      decisions: `${count('slowed')} slowed, ${count('paused')} paused, ${count('adapted')} adapted`,
    };
  } finally {
    await sluice.close();
    await Promise.all(signals.map((s) => s.close?.()));
    await store.close();
  }
}
