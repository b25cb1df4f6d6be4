/**
 * An alert's life, as Prometheus has it: `pending` while its condition holds for less than the
 * tier's `for`, `firing` after that, `resolved` once the condition stops holding after firing.
 * `inactive` is an alert that never fired or went quiet while pending.
 */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'resolved';

export const ALERT_STATES: readonly AlertState[] = ['inactive', 'pending', 'firing', 'resolved'];

export interface AlertPhase {
  readonly state: AlertState;
  /** When the current state began (ms since the epoch). */
  readonly since: number;
}

/** The next phase of an alert given whether its condition holds now. Pure; `now` is injected. */
export function nextPhase(current: AlertPhase, burning: boolean, forMs: number, now: number): AlertPhase {
  if (burning) {
    switch (current.state) {
      case 'inactive':
      case 'resolved':
        return forMs <= 0 ? { state: 'firing', since: now } : { state: 'pending', since: now };
      case 'pending':
        return now - current.since >= forMs ? { state: 'firing', since: now } : current;
      case 'firing':
        return current;
    }
  }
  switch (current.state) {
    case 'pending':
      return { state: 'inactive', since: now };
    case 'firing':
      return { state: 'resolved', since: now };
    default:
      return current;
  }
}
