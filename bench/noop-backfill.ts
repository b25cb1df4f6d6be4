/**
 * The Sluice side of both engine-overhead benchmarks: a backfill with a no-op `process` over
 * `table` of the store's own database, timed from the start call to its outcome. Transactional (a
 * checkpoint per batch) by default; `idempotent` coalesces the checkpoints (1 s or 100 batches).
 */
import { createSluice, defineBackfill, sqlKeyset } from '../src/index.js';
import type { Store } from '../src/core/store.js';
import { type BenchResult, printTarget } from './report.js';

export type NoopDelivery = 'transactional' | 'idempotent';

/** How the hand-written loops checkpoint to match Sluice's `idempotent` defaults: every 100 batches or 1 s, and at the end. */
export const COALESCE = { batches: 100, ms: 1000 };

/** `--delivery`, checked. */
export function deliveryArg(value: string | undefined): NoopDelivery {
  if (value === 'transactional' || value === 'idempotent') return value;
  throw new Error(`--delivery must be transactional or idempotent, got ${value}`);
}

/** Runs the no-op backfill on `store` (which it closes) and returns the elapsed milliseconds; throws unless every row was processed. */
export async function timeNoopBackfill(
  store: Store,
  table: string,
  rows: number,
  batchSize: number,
  delivery: NoopDelivery = 'transactional',
): Promise<number> {
  const def = defineBackfill({
    name: `noop-${Math.random().toString(36).slice(2)}`,
    source: sqlKeyset({ table, key: 'id' }),
    delivery,
    batchSize,
    process: () => {},
  });
  const engine = createSluice({ store, backfills: [def] });
  const started = performance.now();
  const outcome = await (await engine.start(def.name)).done;
  const elapsed = performance.now() - started;
  await engine.close();
  await store.close();
  if (outcome.state !== 'succeeded' || outcome.counts.processed !== rows) {
    throw new Error(`sluice ended ${outcome.state} with ${outcome.counts.processed} processed`);
  }
  return elapsed;
}

/** The engine-overhead target of either store: Sluice (the second result) ≥ 0.95× the hand loop. */
export function printOverheadTarget(
  store: 'SQLite' | 'PostgreSQL',
  delivery: NoopDelivery,
  bodyBytes: number,
  results: readonly BenchResult[],
): void {
  const ratio = results[1]!.ratio;
  printTarget(
    `engine overhead, ${store}, ${delivery}${bodyBytes > 0 ? ', wide rows' : ''} ≥ 0.95× the hand loop`,
    ratio >= 0.95,
    `${ratio.toFixed(2)}×`,
  );
  console.log('');
}
