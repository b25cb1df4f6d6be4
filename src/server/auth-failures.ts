/** How many failed authentications a client may make in a window before it is answered 429. */
export interface AuthFailureLimit {
  /** Failures allowed per window. Default 20. */
  max: number;
  /** The sliding window (ms). Default 60 000. */
  windowMs: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { max: 20, windowMs: 60_000 };

/** Clients remembered at most; past it the one that failed longest ago is forgotten (memory stays bounded under a spray of addresses). */
const MAX_CLIENTS = 10_000;

/**
 * Failed authentications per client address in a sliding window: a client with `max` failures in
 * the last `windowMs` is refused (429, Retry-After) until the oldest of them leaves the window,
 * whatever it presents, so that guessing secrets costs time. A client that never fails is never
 * limited.
 */
export class AuthFailures {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: AuthFailureLimit = DEFAULT_AUTH_FAILURE_LIMIT,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds the client must wait, or 0 when it may try. */
  retryAfterSeconds(client: string): number {
    const times = this.recent(client);
    if (times.length < this.limit.max) return 0;
    return Math.max(1, Math.ceil((times[times.length - this.limit.max]! + this.limit.windowMs - this.now()) / 1000));
  }

  recordFailure(client: string): void {
    const times = this.recent(client);
    times.push(this.now());
    if (times.length > this.limit.max) times.splice(0, times.length - this.limit.max);
    // Re-inserted: the map's order is the order of last failure, oldest first.
    this.failures.delete(client);
    this.failures.set(client, times);
    if (this.failures.size > MAX_CLIENTS) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(client: string): number[] {
    const since = this.now() - this.limit.windowMs;
    const times = (this.failures.get(client) ?? []).filter((t) => t > since);
    if (times.length === 0) this.failures.delete(client);
    return times;
  }
}

/** `20/60` (failures per seconds), as SLUICE_AUTH_FAILURE_LIMIT gives it; undefined for a malformed value. */
export function parseAuthFailureLimit(text: string): AuthFailureLimit | undefined {
  const match = /^\s*([1-9]\d{0,5})\s*\/\s*([1-9]\d{0,5})\s*s?\s*$/.exec(text);
  return match ? { max: Number(match[1]), windowMs: Number(match[2]) * 1000 } : undefined;
}
