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

/**
 * The lease owners this process is (one per engine): a lease naming this process's pid under
 * another owner was taken by an earlier process that had the same pid, as a restarted container's
 * `node` has (pid 1 again, same hostname), and that process is gone.
 */
const ownIdentities = new Set<string>();

/** Records `id` as one of this process's lease owners (an engine's, whoever made its identity). */
export function rememberOwnIdentity(id: string): void {
  ownIdentities.add(id);
}

/** This process as a lease owner: `host:pid:random`, so that a lease names the process that holds it. */
export function processIdentity(clock: Clock): WorkerIdentity {
  const host = hostname();
  const random = Math.floor(clock.random() * 36 ** 6).toString(36);
  const id = `${host}:${process.pid}:${random}`;
  rememberOwnIdentity(id);
  return { id, host, pid: process.pid };
}

/**
 * Whether a lease owner (`host:pid:random`, as `processIdentity` makes them) was a process on this
 * host that no longer exists: a dead worker, whose partitions can be taken over at once instead of
 * after its lease expires. Another host's owner, one of this process's engines and a live pid are
 * not known dead; an owner with this process's pid that is none of its engines was an earlier
 * process with that pid (a restarted container), and is.
 */
export function ownerGoneFromThisHost(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return !ownIdentities.has(owner);
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
