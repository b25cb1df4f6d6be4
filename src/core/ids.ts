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
