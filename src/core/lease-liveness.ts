import type { Cursor } from './cursor.js';
import type { PartitionRecord, RunRecord } from './run.js';

/*
 * Whether leases are live, judged at `now` on the store's clock (Store.clockNow): leases expire by
 * that clock, and the processes judging them may run on machines whose clocks drift from it.
 */

/** Tells whether a lease owner (another process) is known to be gone before its lease runs out. */
export type OwnerDeadCheck = (owner: string) => boolean;

/** A partition whose lease still holds: running, not expired, its owner not known dead. */
export function hasLiveLease(partition: PartitionRecord, now: number, isOwnerDead: OwnerDeadCheck): boolean {
  return (
    partition.state === 'running' &&
    partition.leaseOwner !== null &&
    partition.leaseExpiresAt !== null &&
    Date.parse(partition.leaseExpiresAt) > now &&
    !isOwnerDead(partition.leaseOwner)
  );
}

/** The distinct owners of live leases on the partitions, in partition order. */
export function liveLeaseOwners(partitions: readonly PartitionRecord[], now: number, isOwnerDead: OwnerDeadCheck): string[] {
  return [...new Set(partitions.filter((p) => hasLiveLease(p, now, isOwnerDead)).map((p) => p.leaseOwner!))];
}

/** Every partition is done or failed: nothing is left to work, only the run's end to record. */
export function allSettled(partitions: readonly PartitionRecord[]): boolean {
  return partitions.every((p) => p.state === 'done' || p.state === 'failed');
}

/** A partition a claim could take now: pending, or running under an expired lease (as the stores' claims judge it). */
export function isClaimable(partition: PartitionRecord, now: number): boolean {
  return (
    partition.state === 'pending' ||
    (partition.state === 'running' && (partition.leaseExpiresAt === null || Date.parse(partition.leaseExpiresAt) < now))
  );
}

/** A running run that no live lease works on: every worker that held it is gone. */
export interface Stalled {
  /** The last sign of life: the latest heartbeat, checkpoint or hand-back of any of its partitions (or its start). */
  since: string;
  /** The latest heartbeat of any of its partitions (claim, renewal, checkpoint); null when none was ever claimed. */
  lastHeartbeatAt: string | null;
  /** When the last of the leases that lapsed expired (null when they were handed back, or expired early because their owner was known dead). */
  leasesExpiredAt: string | null;
}

/** Why a running run makes no progress, or null while a live lease works on it (or it is not running). */
export function stalledOf(
  run: RunRecord,
  partitions: readonly PartitionRecord[],
  now: number,
  isOwnerDead: OwnerDeadCheck,
): Stalled | null {
  if (run.state !== 'running' || partitions.some((p) => hasLiveLease(p, now, isOwnerDead))) return null;
  // Every heartbeat, checkpoint and hand-back also stamps the partition's updatedAt.
  const since = latest([run.startedAt ?? run.createdAt, ...partitions.map((p) => p.updatedAt)])!;
  const lastHeartbeatAt = latest(partitions.map((p) => p.heartbeatAt));
  const lapsed = partitions.filter(
    (p) => p.state === 'running' && p.leaseExpiresAt !== null && Date.parse(p.leaseExpiresAt) <= now && !expiredEarly(p),
  );
  return { since, lastHeartbeatAt, leasesExpiredAt: latest(lapsed.map((p) => p.leaseExpiresAt)) };
}

/** A lease `expireLeases` ended because its owner was known dead: its expiry is the epoch, no moment it ran out. */
export function expiredEarly(partition: PartitionRecord): boolean {
  return partition.leaseExpiresAt !== null && Date.parse(partition.leaseExpiresAt) <= 0;
}

/** What a partition has left to read: from its checkpoint (or its start) to its end; null once it is done. */
export function remainingRange(partition: PartitionRecord): { from: Cursor; to: Cursor } | null {
  if (partition.state === 'done') return null;
  return { from: partition.cursor ?? partition.lower, to: partition.upper };
}

function latest(instants: ReadonlyArray<string | null>): string | null {
  let best: string | null = null;
  for (const at of instants) if (at !== null && (best === null || Date.parse(at) > Date.parse(best))) best = at;
  return best;
}
