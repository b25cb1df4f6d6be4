import type { PartitionRecord } from './run.js';

/**
 * Who holds a run's partitions, read from its partition records: the live lease owners (a lease
 * not yet expired, of an owner not known to be dead) and whether a partition is free to claim.
 */

/** The distinct owners of live leases on the partitions, in partition order. */
export function liveLeaseOwners(partitions: readonly PartitionRecord[], now: number, isOwnerDead: (owner: string) => boolean): string[] {
  const owners = new Set<string>();
  for (const p of partitions) {
    if (p.state === 'running' && p.leaseOwner !== null && p.leaseExpiresAt !== null && Date.parse(p.leaseExpiresAt) > now && !isOwnerDead(p.leaseOwner)) owners.add(p.leaseOwner);
  }
  return [...owners];
}

/** A partition a worker could claim now: pending, or running under a lease that has expired. */
export function isClaimable(partition: PartitionRecord, now: number): boolean {
  return partition.state === 'pending' || (partition.state === 'running' && (partition.leaseExpiresAt === null || Date.parse(partition.leaseExpiresAt) < now));
}

/** Every partition is done or failed: nothing is left to work, only the run's end to record. */
export function allSettled(partitions: readonly PartitionRecord[]): boolean {
  return partitions.every((p) => p.state === 'done' || p.state === 'failed');
}
