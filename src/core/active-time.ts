import type { TransitionRecord } from './run.js';

/**
 * The time a run has spent executing: the sum of the periods its transition log shows it in state
 * `running`, up to `nowMs` for a run still running. Time pending (queued, waiting for a worker) or
 * paused does not count, so that the run's rate (its items over this time) says how fast it goes
 * while it goes. A process that dies leaves the run `running` until another one takes it over: that
 * gap counts, as the log cannot tell it from work.
 */
export function activeMs(transitions: readonly TransitionRecord[], nowMs: number): number {
  let total = 0;
  let runningSince: number | undefined;
  // In the order recorded (the store lists them so): two transitions may share a millisecond.
  for (const t of transitions) {
    const at = Date.parse(t.at);
    if (runningSince !== undefined && t.to !== 'running') {
      total += Math.max(0, at - runningSince);
      runningSince = undefined;
    } else if (runningSince === undefined && t.to === 'running') {
      runningSince = at;
    }
  }
  if (runningSince !== undefined) total += Math.max(0, nowMs - runningSince);
  return total;
}

/** Items per second over `ms`, or null when no time passed (nothing to divide by). */
export function perSecond(items: number, ms: number | null): number | null {
  return ms === null || ms <= 0 ? null : items / (ms / 1000);
}
