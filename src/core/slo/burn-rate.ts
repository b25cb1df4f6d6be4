import type { Slo, Tier } from './slo.js';
import { errorBudget } from './slo.js';

/** Good and bad events of an SLI over one window. */
export interface WindowCounts {
  /** Batches (batch-duration) or items (error-ratio) in the window. */
  total: number;
  /** Those slower than the threshold, or quarantined. */
  bad: number;
}

/** How a tier reads now: the burn rate over each of its windows and whether both exceed the tier's. */
export interface TierReading {
  readonly tier: Tier;
  readonly burnLong: number;
  readonly burnShort: number | undefined;
  /** Both windows (or the single one) burn at least at the tier's rate. */
  readonly burning: boolean;
}

/**
 * How many times faster than sustainable the error budget burns: the bad fraction over the
 * budget's fraction. No events, no burn (an idle backfill does not page).
 */
export function burnRate(counts: WindowCounts, slo: Slo): number {
  if (counts.total <= 0) return 0;
  return counts.bad / counts.total / errorBudget(slo);
}

export function readTier(tier: Tier, slo: Slo, countsOver: (windowMs: number) => WindowCounts): TierReading {
  const burnLong = burnRate(countsOver(tier.longWindowMs), slo);
  const burnShort = tier.shortWindowMs === undefined ? undefined : burnRate(countsOver(tier.shortWindowMs), slo);
  const burning = burnLong >= tier.burnRate && (burnShort === undefined || burnShort >= tier.burnRate);
  return { tier, burnLong, burnShort, burning };
}

/** The windows an objective's tiers read, each once. */
export function windowsOf(slo: Slo): number[] {
  const windows = new Set<number>();
  for (const tier of slo.tiers) {
    windows.add(tier.longWindowMs);
    if (tier.shortWindowMs !== undefined) windows.add(tier.shortWindowMs);
  }
  return [...windows].sort((a, b) => a - b);
}
