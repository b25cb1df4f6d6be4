import type { HealthSignal, SignalReading } from '../core/throttle/signal.js';

export interface HttpRateLimitOptions {
  name?: string;
  /** Wait when `X-RateLimit-Remaining` falls to this or below, until `X-RateLimit-Reset`. Default 0. */
  minRemaining?: number;
  /** At most this many requests per rolling hour (seed 004: 4,000 per installation). */
  budgetPerHour?: number;
  /** Time source (tests). */
  now?: () => number;
}

/** What `observe` needs of a response: `fetch`'s Response, or anything with a status and headers. */
export interface ObservedResponse {
  status: number;
  headers: { get(name: string): string | null } | Record<string, string | string[] | undefined>;
}

/** What a response says of the items it answered. */
export interface RateLimitAdvice {
  /**
   * For a 429 or 503: how long to wait before sending the item again (the provider's
   * `Retry-After`, or a minute without one); pass it on: `ctx.retryLater(item, { afterMs })`.
   * Undefined for any other status.
   */
  retryAfterMs: number | undefined;
}

export interface HttpRateLimit extends HealthSignal {
  /**
   * Call with every response from the provider: it counts the request against the hourly budget,
   * stops the lanes (as a signal) while the provider says to wait, and says how long the item it
   * answered should wait.
   */
  observe(response: ObservedResponse): RateLimitAdvice;
  /** When the provider lets requests go again (epoch ms), or 0. */
  blockedUntil(): number;
  /**
   * Resolves when the provider lets requests go again (at once when it does): call it before each
   * request inside a batch, where the signal (read between batches) cannot hold it back.
   */
  wait(signal?: AbortSignal): Promise<void>;
}

/**
 * A provider's rate limit as a health signal. `process` reports each response with `observe`; the
 * signal then says `stop` until the provider's reset time when the remaining quota is used up,
 * after a 429 or 503 (for `Retry-After`, or a minute without one), and while the rolling-hour
 * budget is spent. Requests are counted in this process (one budget per signal instance: create
 * one per installation to budget per installation).
 */
export function httpRateLimit(options: HttpRateLimitOptions = {}): HttpRateLimit {
  const now = options.now ?? Date.now;
  const minRemaining = options.minRemaining ?? 0;
  let until = 0;
  let why = '';
  const sent: number[] = [];
  const header = (response: ObservedResponse, name: string): string | undefined => {
    const h = response.headers as { get?: (n: string) => string | null } & Record<string, unknown>;
    const value = typeof h.get === 'function' ? h.get(name) : (h[name] ?? h[name.toLowerCase()]);
    if (Array.isArray(value)) return String(value[0]);
    return value === null || value === undefined ? undefined : String(value);
  };
  const block = (at: number, reason: string) => {
    if (at > until) {
      until = at;
      why = reason;
    }
  };
  return {
    name: options.name ?? 'rate-limit',
    onError: 'continue',
    intervalMs: 0,
    blockedUntil: () => (until > now() ? until : 0),
    wait: (signal) =>
      new Promise<void>((resolve) => {
        const ms = until - now();
        if (ms <= 0 || signal?.aborted) return resolve();
        const timer = setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      }),
    observe(response) {
      const at = now();
      sent.push(at);
      const retryAfter = header(response, 'retry-after');
      if (response.status === 429 || response.status === 503) {
        const seconds = retryAfter === undefined ? NaN : Number(retryAfter);
        const resumeAt = Number.isFinite(seconds)
          ? at + seconds * 1000
          : retryAfter && !Number.isNaN(Date.parse(retryAfter))
            ? Date.parse(retryAfter)
            : at + 60_000;
        block(resumeAt, `HTTP ${response.status}${retryAfter ? `, Retry-After ${retryAfter}` : ''}`);
        return { retryAfterMs: Math.max(0, resumeAt - at) };
      }
      const remaining = Number(header(response, 'x-ratelimit-remaining'));
      const reset = Number(header(response, 'x-ratelimit-reset'));
      if (Number.isFinite(remaining) && remaining <= minRemaining) {
        // Reset is epoch seconds (GitHub), or seconds from now when small (some providers).
        const resetAt = Number.isFinite(reset) ? (reset > 1e9 ? reset * 1000 : at + reset * 1000) : at + 60_000;
        block(resetAt, `X-RateLimit-Remaining ${remaining}`);
      }
      return { retryAfterMs: undefined };
    },
    async read(): Promise<SignalReading> {
      const at = now();
      while (sent.length > 0 && sent[0]! <= at - 3_600_000) sent.shift();
      if (until > at)
        return { level: 'stop', reason: `${why}: waiting until ${new Date(until).toISOString()} (${Math.ceil((until - at) / 1000)} s)` };
      if (options.budgetPerHour !== undefined && sent.length >= options.budgetPerHour) {
        const freesAt = sent[0]! + 3_600_000;
        return {
          level: 'stop',
          reason: `request budget spent: ${sent.length} of ${options.budgetPerHour} in the last hour; the next frees at ${new Date(freesAt).toISOString()}`,
        };
      }
      return {
        level: 'ok',
        reason:
          options.budgetPerHour === undefined
            ? 'within the rate limit'
            : `${sent.length} of ${options.budgetPerHour} requests in the last hour`,
      };
    },
  };
}
