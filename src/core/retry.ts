import type { RetryPolicy } from './run.js';

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential backoff with full jitter,
 * so that many workers failing together do not retry in lockstep.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}
