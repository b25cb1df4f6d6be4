import type { PartitionRecord } from './run.js';

/*
 * Whether leases are live, judged at `now` on the store's clock (Store.clockNow): leases expire by
 * that clock, and the processes judging them may run on machines whose clocks drift from it.
 */

/** Tells whether a lease owner (another process) is known to be gone before its lease runs out. */
export type OwnerDeadCheck = (owner: string) => boolean;

/** A partition whose lease still holds: running, not expired, its owner not known dead. */
export function hasLiveLease(partition: PartitionRecord, now: number, isOwnerDead: OwnerDeadCheck): boolean {
  return partition.state === 'running' && partition.leaseOwner !== null && partition.leaseExpiresAt !== null
    && Date.parse(partition.leaseExpiresAt) > now && !isOwnerDead(partition.leaseOwner);
}

/** A partition a claim could take now: pending, or running under an expired lease (as the stores' claims judge it). */
export function isClaimable(partition: PartitionRecord, now: number): boolean {
  return partition.state === 'pending' || (partition.state === 'running' && (partition.leaseExpiresAt === null || Date.parse(partition.leaseExpiresAt) < now));
}
