import { ConfigError } from '../errors.js';

/**
 * Time-of-day windows in a named time zone, each with a profile: `fast` 02:00–06:00 Europe/Berlin,
 * `background` otherwise (or paused outside the windows). Wall-clock times are read with
 * `Intl.DateTimeFormat`, so daylight-saving changes follow the zone's rules.
 */
export interface ScheduleInput {
  /** An IANA time zone, e.g. `Europe/Berlin`, `UTC`. */
  timeZone: string;
  windows: ReadonlyArray<{ from: string; to: string; profile: string }>;
  /** The profile outside every window, or `paused` to run only inside them. */
  otherwise: string;
}

export interface Schedule {
  timeZone: string;
  windows: ReadonlyArray<{ from: number; to: number; profile: string; label: string }>;
  otherwise: string;
}

export interface ScheduledProfile {
  /** The profile that applies, or `paused`. */
  profile: string;
  /** `02:00–06:00 Europe/Berlin`, or `outside the windows`. */
  window: string;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutes(text: string, what: string): number {
  const match = HHMM.exec(text);
  if (!match) throw new ConfigError(`schedule: ${what} must be a time of day as HH:MM (00:00–23:59), got ${JSON.stringify(text)}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Whether minute-of-day `m` is inside [from, to), windows wrapping midnight included. */
function inside(m: number, from: number, to: number): boolean {
  return from < to ? m >= from && m < to : m >= from || m < to;
}

export function parseSchedule(input: ScheduleInput, profiles: readonly string[]): Schedule {
  if (!input || typeof input !== 'object')
    throw new ConfigError('schedule must be an object like { timeZone, windows: [{ from, to, profile }], otherwise }');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: input.timeZone });
  } catch {
    throw new ConfigError(
      `schedule: unknown time zone ${JSON.stringify(input.timeZone)}; use an IANA name such as "Europe/Berlin" or "UTC"`,
    );
  }
  const known = (profile: string, what: string) => {
    if (!profiles.includes(profile))
      throw new ConfigError(`schedule: ${what} must be one of ${profiles.join(', ')}, got ${JSON.stringify(profile)}`);
  };
  if (!Array.isArray(input.windows) || input.windows.length === 0)
    throw new ConfigError('schedule: windows must list at least one { from, to, profile }');
  const windows = input.windows.map((w, i) => {
    const from = minutes(w.from, `windows[${i}].from`);
    const to = minutes(w.to, `windows[${i}].to`);
    if (from === to) throw new ConfigError(`schedule: windows[${i}] is empty (${w.from}–${w.to})`);
    known(w.profile, `windows[${i}].profile`);
    return { from, to, profile: w.profile, label: `${w.from}–${w.to} ${input.timeZone}` };
  });
  // Overlapping windows would make the profile ambiguous: refuse them.
  for (let m = 0; m < 1440; m++) {
    const hits = windows.filter((w) => inside(m, w.from, w.to));
    if (hits.length > 1) throw new ConfigError(`schedule: windows ${hits.map((w) => w.label).join(' and ')} overlap`);
  }
  if (input.otherwise !== 'paused') known(input.otherwise, 'otherwise');
  return { timeZone: input.timeZone, windows, otherwise: input.otherwise };
}

/** The minute of the day at `instant` on the zone's wall clock. */
export function wallClockMinute(instant: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(instant);
  const hour = Number(parts.find((p) => p.type === 'hour')!.value);
  const minute = Number(parts.find((p) => p.type === 'minute')!.value);
  return hour * 60 + minute;
}

export function profileAt(schedule: Schedule, instant: Date): ScheduledProfile {
  const m = wallClockMinute(instant, schedule.timeZone);
  const window = schedule.windows.find((w) => inside(m, w.from, w.to));
  return window ? { profile: window.profile, window: window.label } : { profile: schedule.otherwise, window: 'outside the windows' };
}
