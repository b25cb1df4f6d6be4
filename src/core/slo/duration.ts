import { ConfigError } from '../errors.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A Prometheus-style duration (`30s`, `5m`, `1h`, `3d`, `1w`; one unit) in ms. One unit only, so
 * that what the evaluator uses is exactly what the generated rules write in `[…]`.
 */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)(s|m|h|d|w)$/.exec(text);
  if (!match) throw new ConfigError(`${what} must be a duration like "30s", "5m", "1h", "3d" or "1w", got ${JSON.stringify(text)}`);
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (ms <= 0) throw new ConfigError(`${what} must be longer than 0, got ${JSON.stringify(text)}`);
  return ms;
}

/** The shortest one-unit spelling of a duration in ms (for reasons and rule names). */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms % UNITS[unit]! === 0) return `${ms / UNITS[unit]!}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}
