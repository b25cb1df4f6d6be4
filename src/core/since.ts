import { MAX_TIMER_MS } from './duration-limits.js';
import { UsageError } from './errors.js';
import { parseIsoInstant } from './instant.js';

const SINCE = { details: { options: ['since'] } } as const;
const RELATIVE = /^(\d+)\s*(m|min|h|d|w)$/i;
const UNIT_MS: Record<string, number> = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses the `since` option: a relative window (`30m`, `12h`, `7d`, `2w`) counted back from `now`, or an
 * ISO-8601 date or instant (`2024-05-01`, `2024-05-01T12:00:00Z`); a date or time without a zone is
 * UTC, whatever the process's time zone.
 */
export function parseSince(value: string | Date, now: number): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new UsageError('`since` is an invalid date', SINCE);
    return value;
  }
  const text = value.trim();
  const relative = RELATIVE.exec(text);
  if (relative) {
    const amount = Number(relative[1]);
    return new Date(now - amount * UNIT_MS[relative[2]!.toLowerCase()]!);
  }
  const instant = parseIsoInstant(text);
  if (!Number.isNaN(instant)) return new Date(instant);
  throw new UsageError(`\`since\` must be a duration like 7d, 12h or 30m, or an ISO date like 2024-05-01, got "${value}"`, SINCE);
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration such as `500ms`, `30s`, `5m`, `2h` (a bare number is milliseconds). */
export function parseDuration(value: string, what: string): number {
  const match = DURATION.exec(value.trim());
  if (!match) throw new UsageError(`${what} must be a duration like 500ms, 30s, 5m or 2h, got "${value}"`);
  const ms = Math.round(Number(match[1]) * DURATION_MS[(match[2] ?? 'ms').toLowerCase()]!);
  // A timer above this fires after 1 ms: refused rather than silently shortened.
  if (ms > MAX_TIMER_MS)
    throw new UsageError(`${what} must be at most 24d (${MAX_TIMER_MS} ms, the longest a timer can wait), got "${value}"`);
  return ms;
}
