import { limitsFor, queuedBehind } from './concurrency.js';
import { addCounts, zeroCounts } from './counts.js';
import { hasLiveLease, type OwnerDeadCheck, remainingRange, stalledOf } from './lease-liveness.js';
import type { DecisionRecord, PartitionRecord, RunRecord } from './run.js';
import type { ChildResult, PartitionStatus, RunStatus } from './sluice.js';
import type { PartitionLeases, QuarantineReads, RunStore, SloAlerts, StoreDatabase } from './store.js';

/** What reading a run's status needs: the store's reads (and its clock), and how to tell a dead lease owner. */
export interface StatusDeps {
  store: StoreDatabase & RunStore & PartitionLeases & QuarantineReads & SloAlerts;
  isOwnerDead: OwnerDeadCheck;
}

/**
 * A run's status as an operator reads it: its partitions with their leases judged at the store's
 * clock, transitions, quarantine, the throttle's decisions and state, SLO alerts, a fan-out's
 * children, and what a pending run is queued behind.
 */
export async function readRunStatus(deps: StatusDeps, run: RunRecord, isExecutingHere: () => boolean): Promise<RunStatus> {
  const { store, isOwnerDead } = deps;
  const runId = run.id;
  const [partitions, now, transitions, quarantine, decisions, alerts] = await Promise.all([
    store.listPartitions(runId),
    store.clockNow(),
    store.listTransitions(runId),
    store.quarantineSummary({ runId }),
    store.listDecisions(runId, 20),
    store.listAlerts(run.backfill),
  ]);
  const queuedBehind = run.state === 'pending' ? await queueOf(store, run) : undefined;
  const shown = partitions.map((p) => partitionStatus(p, now, isOwnerDead));
  // Asked after the reads, as they saw the run: an execution that ended meanwhile is not active here.
  const executingHere = isExecutingHere();
  return {
    run,
    at: new Date(now).toISOString(),
    partitions: shown,
    transitions,
    quarantine,
    active: executingHere || shown.some((p) => p.leaseLive),
    stalled: executingHere ? null : stalledOf(run, partitions, now, isOwnerDead),
    decisions,
    throttle: throttleState(run, decisions),
    alerts: alerts.filter((a) => a.state === 'pending' || a.state === 'firing'),
    ...(partitions.some((p) => p.child !== null) ? { children: childResults(partitions) } : {}),
    ...(queuedBehind ? { queuedBehind } : {}),
  };
}

/** Why a pending run cannot start yet: the run limit of one of its keys is taken. */
async function queueOf(store: RunStore, run: RunRecord): Promise<string | undefined> {
  for (const key of limitsFor(run).keys) {
    if (key.runs === undefined) continue;
    const running = (await store.listRuns({ key, states: ['running'], limit: key.runs + 1 })).filter((r) => r.id !== run.id);
    if (running.length >= key.runs) {
      const queued = queuedBehind(key, running[running.length - 1]!.id, running.length);
      if (queued.kind === 'queued') return queued.reason;
    }
  }
  return undefined;
}

/**
 * The throttle's state as the last decisions say it: `paused: db connections 83 % ≥ 80 %`, or
 * running. Only meaningful while the run executes.
 */
export function throttleState(run: RunRecord, decisions: readonly DecisionRecord[]): RunStatus['throttle'] {
  const last = decisions.find((d) => d.kind !== 'configured' && d.kind !== 'retune');
  if (run.state !== 'running' || !last) return { state: 'running', reason: null, since: null };
  const state = last.kind === 'paused' ? 'paused' : last.kind === 'slowed' ? 'slowed' : 'running';
  return { state, reason: last.reason, since: last.at };
}

/** A partition with its lease judged at `now` (the store's clock): live or not, how old its heartbeat, what it still owns. */
export function partitionStatus(partition: PartitionRecord, now: number, isOwnerDead: OwnerDeadCheck): PartitionStatus {
  return {
    ...partition,
    leaseLive: hasLiveLease(partition, now, isOwnerDead),
    heartbeatAgeMs: partition.heartbeatAt === null ? null : Math.max(0, now - Date.parse(partition.heartbeatAt)),
    remaining: remainingRange(partition),
  };
}

/** Per-child results of a fan-out run: its partitions summed, `success` when all are done, `error` when one failed. */
export function childResults(partitions: readonly PartitionRecord[]): ChildResult[] {
  const byChild = new Map<string, PartitionRecord[]>();
  for (const p of partitions) if (p.child !== null) byChild.set(p.child, [...(byChild.get(p.child) ?? []), p]);
  return [...byChild].map(([child, parts]) => {
    const counts = parts.reduce((sum, p) => addCounts(sum, p.counts), zeroCounts());
    const outcome: ChildResult['outcome'] = parts.some((p) => p.state === 'failed')
      ? 'error'
      : parts.every((p) => p.state === 'done')
        ? counts.quarantined > 0
          ? 'partial'
          : 'success'
        : parts.some((p) => p.state === 'running')
          ? 'running'
          : 'pending';
    return { child, outcome, counts, partitions: parts.length, error: parts.find((p) => p.error)?.error ?? null };
  });
}
