import { Gauge, type Registry } from 'prom-client';
import { OPEN_STATES, RUN_STATES } from '../core/run-state.js';
import type { RunStore } from '../core/store.js';

/**
 * Metrics read from the store at scrape time, for `sluice serve`: what every worker together has
 * done, without double counting what each worker's own `/metrics` reports (the names differ:
 * `sluice_store_*`). Labels: backfill and state only.
 */
export function registerStoreMetrics(registry: Registry, store: RunStore): void {
  // One read per scrape feeds all three gauges: prom-client collects them concurrently, and they share the read in flight.
  let pending: Promise<void> | undefined;
  const refresh = async () => {
    pending ??= read().finally(() => setTimeout(() => (pending = undefined), 0));
    await pending;
  };
  const runs = new Gauge({
    name: 'sluice_store_runs',
    help: 'Runs in the store by backfill and state (the latest 10,000 runs).',
    labelNames: ['backfill', 'state'],
    registers: [registry],
    collect: refresh,
  });
  const backlog = new Gauge({
    name: 'sluice_store_backlog_items',
    help: 'Items left to receive in open runs (pending, running, paused), from their plans.',
    labelNames: ['backfill'],
    registers: [registry],
    collect: refresh,
  });
  const quarantined = new Gauge({
    name: 'sluice_store_open_run_quarantined_items',
    help: 'Items quarantined by open runs.',
    labelNames: ['backfill'],
    registers: [registry],
    collect: refresh,
  });
  async function read(): Promise<void> {
    const all = await store.listRuns({ limit: 10_000 });
    runs.reset();
    backlog.reset();
    quarantined.reset();
    const backfills = new Set(all.map((r) => r.backfill));
    for (const backfill of backfills) {
      for (const state of RUN_STATES) runs.set({ backfill, state }, 0);
      backlog.set({ backfill }, 0);
      quarantined.set({ backfill }, 0);
    }
    for (const run of all) {
      runs.inc({ backfill: run.backfill, state: run.state });
      if ((OPEN_STATES as readonly string[]).includes(run.state)) {
        if (run.plannedItems !== null) backlog.inc({ backfill: run.backfill }, Math.max(0, run.plannedItems - run.counts.received));
        quarantined.inc({ backfill: run.backfill }, run.counts.quarantined);
      }
    }
  }
}
