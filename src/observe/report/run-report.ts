import type { Counts } from '../../core/counts.js';
import { quantile } from '../../core/quantile.js';
import type { AlertEventRecord } from '../../core/slo/alert-record.js';
import type { ChildResult, Sluice } from '../../core/sluice.js';
import type { BatchRecord, DecisionRecord, QuarantineRecord, RunOptions, RunParams, TransitionRecord } from '../../core/run.js';
import type { RunState } from '../../core/run-state.js';

/** Everything an audit needs about one run, gathered from the store. Rendered as JSON, Markdown or HTML. */
export interface RunReport {
  generatedAt: string;
  run: {
    id: string;
    backfill: string;
    state: RunState;
    reason: string | null;
    createdBy: string;
    createdAt: string;
    startedAt: string | null;
    finishedAt: string | null;
    /** From start to finish (or to now, for an open run), in seconds. */
    elapsedSeconds: number | null;
    keys: Record<string, string>;
  };
  parameters: { params: RunParams; options: RunOptions };
  history: TransitionRecord[];
  counts: Counts;
  plannedItems: number | null;
  partitions: { total: number; byState: Record<string, number> };
  children: ChildResult[] | null;
  batches: {
    count: number;
    /** Items received per second of batch time summed over lanes and workers. */
    itemsPerSecond: number | null;
    durationMs: { p50: number; p90: number; p95: number; p99: number; max: number } | null;
    byWorker: Array<{ worker: string; batches: number; items: number }>;
  };
  /**
   * Errors by class: `count` items quarantined with it (`open` still, `replayed` since), and
   * `retried` attempts of `process` that failed with it and were tried again (transient errors
   * when the retry succeeded; items that kept failing are in `count` too).
   */
  errors: Array<{
    errorClass: string;
    count: number;
    open: number;
    replayed: number;
    retried: number;
    samples: Array<{ itemKey: string; message: string; attempts: number }>;
  }>;
  quarantine: { open: number; replayed: number };
  throttle: DecisionRecord[];
  alerts: AlertEventRecord[];
  /** Results of `sluice verify`, when it ran. */
  verification: Array<{ check: string; passed: boolean; detail: string; actor: string; at: string }>;
}

/** Reads a run's report from the store. */
export async function buildRunReport(sluice: Sluice, runId: string, now: Date = new Date()): Promise<RunReport> {
  const status = await sluice.status(runId);
  const { run } = status;
  const { store } = sluice;
  const [batches, decisions, replayed, open, verification] = await Promise.all([
    store.listBatches(runId),
    store.listDecisions(runId, 10_000),
    store.listQuarantine({ runId, status: 'replayed', limit: 1_000_000 }),
    store.listQuarantine({ runId, status: 'open', limit: 1_000_000 }),
    store.listVerifications(runId),
  ]);
  const started = run.startedAt ?? run.createdAt;
  const ended = run.finishedAt ?? now.toISOString();
  const alerts = await store.listAlertEvents({ backfill: run.backfill, sinceMs: Date.parse(started), untilMs: Date.parse(ended) });
  const errors = errorsByClass(open, replayed, batches);
  const durations = batches.map((b) => b.durationMs).sort((a, b) => a - b);
  const busyMs = durations.reduce((sum, d) => sum + d, 0);
  const items = batches.reduce((sum, b) => sum + b.counts.received, 0);
  const byWorker = new Map<string, { worker: string; batches: number; items: number }>();
  for (const b of batches) {
    const entry = byWorker.get(b.worker) ?? { worker: b.worker, batches: 0, items: 0 };
    entry.batches += 1;
    entry.items += b.counts.received;
    byWorker.set(b.worker, entry);
  }
  const byState: Record<string, number> = {};
  for (const p of status.partitions) byState[p.state] = (byState[p.state] ?? 0) + 1;
  return {
    generatedAt: now.toISOString(),
    run: {
      id: run.id,
      backfill: run.backfill,
      state: run.state,
      reason: run.reason,
      createdBy: run.createdBy,
      createdAt: run.createdAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      elapsedSeconds: run.startedAt ? Math.max(0, (Date.parse(ended) - Date.parse(run.startedAt)) / 1000) : null,
      keys: run.keys,
    },
    parameters: { params: run.params, options: run.options },
    history: status.transitions,
    counts: run.counts,
    plannedItems: run.plannedItems,
    partitions: { total: status.partitions.length, byState },
    children: status.children ?? null,
    batches: {
      count: batches.length,
      itemsPerSecond: busyMs > 0 ? items / (busyMs / 1000) : null,
      durationMs:
        durations.length === 0
          ? null
          : {
              p50: quantile(durations, 0.5),
              p90: quantile(durations, 0.9),
              p95: quantile(durations, 0.95),
              p99: quantile(durations, 0.99),
              max: durations[durations.length - 1]!,
            },
      byWorker: [...byWorker.values()].sort((a, b) => b.batches - a.batches),
    },
    errors,
    quarantine: { open: open.length, replayed: replayed.length },
    throttle: [...decisions].reverse(),
    alerts,
    verification: verification.map(({ check, passed, detail, actor, at }) => ({ check, passed, detail, actor, at })),
  };
}

/**
 * Every error class the run met: quarantined items, open or replayed since (a replay fixes the
 * items, it does not undo the error), and retried attempts from the batch history. Samples are
 * open entries first.
 */
function errorsByClass(
  open: readonly QuarantineRecord[],
  replayed: readonly QuarantineRecord[],
  batches: readonly BatchRecord[],
): RunReport['errors'] {
  const byClass = new Map<string, RunReport['errors'][number]>();
  const entry = (errorClass: string) => {
    let found = byClass.get(errorClass);
    if (!found) byClass.set(errorClass, (found = { errorClass, count: 0, open: 0, replayed: 0, retried: 0, samples: [] }));
    return found;
  };
  for (const [list, status] of [
    [open, 'open'],
    [replayed, 'replayed'],
  ] as const) {
    for (const q of list) {
      const e = entry(q.errorClass);
      e.count += 1;
      e[status] += 1;
      if (e.samples.length < 3) e.samples.push({ itemKey: q.itemKey, message: q.message, attempts: q.attempts });
    }
  }
  for (const b of batches) for (const [errorClass, n] of Object.entries(b.retries)) entry(errorClass).retried += n;
  return [...byClass.values()].sort((a, b) => b.count + b.retried - (a.count + a.retried) || a.errorClass.localeCompare(b.errorClass));
}
