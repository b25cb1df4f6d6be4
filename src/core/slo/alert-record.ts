import type { AlertState } from './alert-state.js';
import type { Severity } from './slo.js';

/** Identifies one alert: a tier of an objective of a backfill. */
export interface AlertKey {
  backfill: string;
  slo: string;
  tier: string;
}

/** An alert's stored state, shared by every process that evaluates it. */
export interface AlertRecord extends AlertKey {
  severity: Severity;
  state: AlertState;
  /** When the state began (ISO). */
  since: string;
  burnLong: number;
  burnShort: number | null;
  /** One line: what burns how fast over which windows. */
  summary: string;
  updatedAt: string;
}

/** A change of an alert's state, kept for status, reports and the audit trail. */
export interface AlertEventRecord extends AlertKey {
  id: number;
  severity: Severity;
  from: AlertState;
  to: AlertState;
  burnLong: number;
  burnShort: number | null;
  summary: string;
  at: string;
}

/** A compare-and-set on an alert: applies only while its state is still `from` (absent = inactive). */
export interface AlertChange extends AlertKey {
  severity: Severity;
  from: AlertState;
  to: AlertState;
  /** When the new state began (ms); unchanged states keep theirs. */
  sinceMs: number;
  burnLong: number;
  burnShort: number | null;
  summary: string;
}
