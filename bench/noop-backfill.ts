/**
 * The Sluice side of both engine-overhead benchmarks: a transactional backfill with a no-op
 * `process` over `table` of the store's own database, timed from the start call to its outcome.
 */
import { createSluice, defineBackfill, sqlKeyset } from '../src/index.js';
import type { Store } from '../src/core/store.js';

/** Runs the no-op backfill on `store` (which it closes) and returns the elapsed milliseconds; throws unless every row was processed. */
export async function timeNoopBackfill(store: Store, table: string, rows: number, batchSize: number): Promise<number> {
  const def = defineBackfill({
    name: `noop-${Math.random().toString(36).slice(2)}`,
    source: sqlKeyset({ table, key: 'id' }),
    delivery: 'transactional',
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
