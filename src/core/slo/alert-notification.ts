import type { Severity } from './slo.js';

/** What a webhook receives when an alert fires or resolves. */
export interface AlertNotification {
  /** Stable across attempts, evaluators and webhooks: a receiver that has seen it can drop the repeat (delivery is at least once). */
  id: string;
  backfill: string;
  slo: string;
  tier: string;
  severity: Severity;
  state: 'firing' | 'resolved';
  /** When the state began (ISO). */
  since: string;
  burnRate: { threshold: number; long: number; short: number | null };
  windows: { long: string; short: string | null };
  summary: string;
  /** The backfill's runs that were running at the time. */
  runs: string[];
  /** Runs Sluice paused because of this alert (`pauseOnPage`). */
  paused: string[];
}
