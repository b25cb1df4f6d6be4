import { addCounts, zeroCounts } from './counts.js';
import { hasLiveLease, type OwnerDeadCheck, remainingRange } from './lease-liveness.js';
import type { DecisionRecord, PartitionRecord, RunRecord } from './run.js';
import type { ChildResult, PartitionStatus, RunStatus } from './sluice.js';

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
