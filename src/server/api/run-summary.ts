import type { RunRecord } from '../../core/run.js';

/** A run as lists and the live stream show it: progress, rate and ETA computed once, here. */
export interface RunSummary {
  id: string;
  backfill: string;
  state: RunRecord['state'];
  reason: string | null;
  owner: string;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  counts: RunRecord['counts'];
  batches: number;
  plannedItems: number | null;
  /** 0..1 of the plan, when there is one. */
  progress: number | null;
  /** Items received per second since the run started (its average). */
  rate: number | null;
  etaSeconds: number | null;
  keys: Record<string, string>;
  control: RunRecord['control'];
}

export function summarize(run: RunRecord, now = Date.now()): RunSummary {
  const owner = typeof run.params.extra?.owner === 'string' ? run.params.extra.owner : run.createdBy;
  const elapsed = run.startedAt ? ((run.finishedAt ? Date.parse(run.finishedAt) : now) - Date.parse(run.startedAt)) / 1000 : 0;
  const rate = elapsed > 0 && run.counts.received > 0 ? run.counts.received / elapsed : null;
  const remaining = run.plannedItems === null ? null : Math.max(0, run.plannedItems - run.counts.received);
  return {
    id: run.id,
    backfill: run.backfill,
    state: run.state,
    reason: run.reason,
    owner,
    createdBy: run.createdBy,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    updatedAt: run.updatedAt,
    counts: run.counts,
    batches: run.batches,
    plannedItems: run.plannedItems,
    progress: run.plannedItems ? Math.min(1, run.counts.received / run.plannedItems) : run.state === 'succeeded' ? 1 : null,
    rate,
    etaSeconds: run.state === 'running' && rate && remaining !== null ? remaining / rate : null,
    keys: run.keys,
    control: run.control,
  };
}
