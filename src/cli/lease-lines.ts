import { type Cursor, expiredEarly, type PartitionStatus, type Stalled } from '../index.js';
import { formatCount, formatDuration } from './output.js';

/*
 * How `sluice status` and `sluice list` show leases: who holds each partition and until when, how
 * old its last heartbeat is, what it still owns, and a run that nobody works on any more. Ages are
 * measured on the store's clock (`now` is the status's `at`), the clock the leases expire by.
 */

/** A partition's line, and while it is leased, a second line about its lease. */
export function partitionLines(p: PartitionStatus, now: number): string[] {
  const origin = p.splitFrom !== null ? `split from #${p.splitFrom}` : (p.label ?? '');
  const where = p.remaining
    ? `owns ${cursorText(p.remaining.from, 'start')} → ${cursorText(p.remaining.to, 'end')}`
    : `cursor ${JSON.stringify(p.cursor)}`;
  const lines = [
    `  #${p.index}  ${p.state.padEnd(7)}  ${origin.padEnd(24)}  received ${formatCount(p.counts.received)}, processed ${formatCount(p.counts.processed)}, quarantined ${formatCount(p.counts.quarantined)}  ${where}${p.error ? `  error: ${p.error}` : ''}`,
  ];
  if (p.state === 'running' && p.leaseOwner !== null)
    lines.push(`        lease: ${p.leaseOwner}, ${leaseText(p, now)}; last heartbeat ${ageText(p.heartbeatAgeMs)}`);
  return lines;
}

/** `STALLED since …` for a run nobody works on, with what to do about it. */
export function stalledLines(runId: string, stalled: Stalled, now: number): string[] {
  const heartbeat = `last heartbeat ${ageText(stalled.lastHeartbeatAt === null ? null : now - Date.parse(stalled.lastHeartbeatAt))}`;
  const expired = stalled.leasesExpiredAt === null ? '' : `; its leases expired at ${stalled.leasesExpiredAt}`;
  return [
    `  STALLED since ${stalled.since}: running, but no live lease (${heartbeat}${expired})`,
    // The run's last process ended without a transition: killed, or its store writes failed (a full disk).
    `  no process works on it, and the last one stopped without recording why (killed, or it could not write to the store: a full disk?)`,
    `  start a worker (sluice worker) or take it over here (sluice resume ${runId}); it goes on from the last checkpoint`,
  ];
}

/** The short form for run lists. */
export function stalledNote(stalled: Stalled): string {
  return `STALLED since ${stalled.since} (no live lease)`;
}

function leaseText(p: PartitionStatus, now: number): string {
  const expiresAt = Date.parse(p.leaseExpiresAt ?? '');
  if (p.leaseLive) return `expires in ${formatDuration((expiresAt - now) / 1000)} (${p.leaseExpiresAt})`;
  if (expiredEarly(p)) return 'EXPIRED early (its process is gone): free to take over';
  if (expiresAt > now) return `its process is gone (the lease would run until ${p.leaseExpiresAt})`;
  return `EXPIRED ${formatDuration((now - expiresAt) / 1000)} ago (${p.leaseExpiresAt}): free to take over`;
}

function ageText(ms: number | null): string {
  return ms === null ? 'never' : `${formatDuration(ms / 1000)} ago`;
}

function cursorText(cursor: Cursor, ifNull: string): string {
  return cursor === null ? ifNull : JSON.stringify(cursor);
}
