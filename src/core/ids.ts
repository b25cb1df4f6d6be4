import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import type { WorkerIdentity } from './run.js';

/** Ids sortable by creation time, short enough to type: `<prefix>_` + base36 time + random. */
export function newId(prefix: string, now: number, random: () => number): string {
  const time = now.toString(36).padStart(9, '0');
  let suffix = '';
  for (let i = 0; i < 6; i++) suffix += Math.floor(random() * 36).toString(36);
  return `${prefix}_${time}${suffix}`;
}

/** Run ids: `r_` + base36 time + random. */
export function newRunId(now: number, random: () => number): string {
  return newId('r', now, random);
}

/** This process as a lease owner: `host:pid:random`, so that a lease names the process that holds it. */
export function processIdentity(clock: Clock): WorkerIdentity {
  const host = hostname();
  const random = Math.floor(clock.random() * 36 ** 6).toString(36);
  return { id: `${host}:${process.pid}:${random}`, host, pid: process.pid };
}

/**
 * Whether a lease owner (`host:pid:random`, as `processIdentity` makes them) was a process on this
 * host that no longer exists: a dead worker, whose partitions can be taken over at once instead of
 * after its lease expires. Another host's owner, this process and a live pid are not known dead.
 */
export function ownerGoneFromThisHost(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
