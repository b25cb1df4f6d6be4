import type { AlertNotification } from '../../core/slo/alert-notification.js';
import type { OutboxRecord, OutboxState } from '../../core/slo/alert-outbox.js';
import type { AlertEventRecord, AlertRecord } from '../../core/slo/alert-record.js';
import type { AlertState } from '../../core/slo/alert-state.js';
import type { Severity } from '../../core/slo/slo.js';
import type { BatchRecord, TokenRecord, TokenScope } from '../../core/run.js';

/**
 * Rows of the batch history and alert tables as both stores select them: times as ms since the
 * epoch (PostgreSQL selects them so), ids and counts as numbers or numeric strings (bigint).
 */
export interface BatchRow {
  id: number | string;
  run_id: string;
  backfill: string;
  partition_idx: number;
  worker: string;
  finished_ms: number | string;
  duration_ms: number;
  received: number;
  processed: number;
  skipped: number;
  failed: number;
  quarantined: number;
  /** JSON text (SQLite) or an object (PostgreSQL jsonb); null when the batch had no retries. */
  retries: string | Record<string, number> | null;
}

export interface AlertRow {
  backfill: string;
  slo: string;
  tier: string;
  severity: Severity;
  state: AlertState;
  since_ms: number | string;
  burn_long: number;
  burn_short: number | null;
  summary: string;
  updated_at: string | Date;
}

export interface AlertEventRow {
  id: number | string;
  backfill: string;
  slo: string;
  tier: string;
  severity: Severity;
  from_state: AlertState;
  to_state: AlertState;
  burn_long: number;
  burn_short: number | null;
  summary: string;
  at_ms: number | string;
}

const iso = (ms: number | string) => new Date(Number(ms)).toISOString();
const isoOf = (value: string | Date) => (value instanceof Date ? value.toISOString() : value);

export function toBatch(row: BatchRow): BatchRecord {
  return {
    id: Number(row.id),
    runId: row.run_id,
    backfill: row.backfill,
    partition: row.partition_idx,
    worker: row.worker,
    finishedAt: iso(row.finished_ms),
    durationMs: row.duration_ms,
    counts: { received: row.received, processed: row.processed, skipped: row.skipped, failed: row.failed, quarantined: row.quarantined },
    retries:
      row.retries === null ? {} : typeof row.retries === 'string' ? (JSON.parse(row.retries) as Record<string, number>) : row.retries,
  };
}

export function toAlert(row: AlertRow): AlertRecord {
  return {
    backfill: row.backfill,
    slo: row.slo,
    tier: row.tier,
    severity: row.severity,
    state: row.state,
    since: iso(row.since_ms),
    burnLong: row.burn_long,
    burnShort: row.burn_short,
    summary: row.summary,
    updatedAt: isoOf(row.updated_at),
  };
}

export function toAlertEvent(row: AlertEventRow): AlertEventRecord {
  return {
    id: Number(row.id),
    backfill: row.backfill,
    slo: row.slo,
    tier: row.tier,
    severity: row.severity,
    from: row.from_state,
    to: row.to_state,
    burnLong: row.burn_long,
    burnShort: row.burn_short,
    summary: row.summary,
    at: iso(row.at_ms),
  };
}

/** An outbox row: the payload is JSON text (SQLite) or already parsed (jsonb). */
export interface OutboxRow {
  id: string;
  webhook: string;
  backfill: string;
  payload: string | AlertNotification;
  state: OutboxState;
  attempts: number;
  last_error: string | null;
  created_ms: number | string;
  settled_ms: number | string | null;
}

export function toOutbox(row: OutboxRow): OutboxRecord {
  return {
    id: row.id,
    webhook: row.webhook,
    backfill: row.backfill,
    notification: typeof row.payload === 'string' ? (JSON.parse(row.payload) as AlertNotification) : row.payload,
    state: row.state,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: iso(row.created_ms),
    settledAt: row.settled_ms === null ? null : iso(row.settled_ms),
  };
}

export interface TokenRow {
  id: string;
  name: string;
  scope: TokenScope;
  hash: string;
  created_by: string;
  created_at: string | Date;
  revoked_at: string | Date | null;
}

export function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    hash: row.hash,
    createdBy: row.created_by,
    createdAt: isoOf(row.created_at),
    revokedAt: row.revoked_at === null ? null : isoOf(row.revoked_at),
  };
}
