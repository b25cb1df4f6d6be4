import type { Cursor } from '../../core/cursor.js';
import type {
  DecisionRecord,
  PartitionRecord,
  PartitionState,
  QuarantineRecord,
  QuarantineStatus,
  RunRecord,
  TransitionRecord,
} from '../../core/run.js';
import type { RunState } from '../../core/run-state.js';
import type { VerificationRecord } from '../../core/verify.js';
import type { ColumnDecoding } from './column-decoding.js';

/**
 * Rows of the runs, partitions, transitions, decisions, quarantine and verification tables as both
 * stores select them. Columns whose shape differs by dialect are `unknown` here and read through
 * the store's `ColumnDecoding`; counts may be numbers (SQLite) or numeric strings (bigint).
 */
export interface RunRow {
  id: string;
  backfill: string;
  state: RunState;
  params: unknown;
  options: unknown;
  created_by: string;
  created_at: unknown;
  updated_at: unknown;
  started_at: unknown;
  finished_at: unknown;
  reason: string | null;
  control: unknown;
  planned_items: number | string | null;
  keys: unknown;
  tuning: number;
  canary_items: number | null;
  canary_left: number | null;
  ramp_lanes: number | null;
  c_received: number | string;
  c_processed: number | string;
  c_skipped: number | string;
  c_failed: number | string;
  c_quarantined: number | string;
  c_batches: number | string;
}

export function toRun(row: RunRow, columns: ColumnDecoding): RunRecord {
  return {
    id: row.id,
    backfill: row.backfill,
    state: row.state,
    params: columns.json(row.params),
    options: columns.json(row.options),
    createdBy: row.created_by,
    createdAt: columns.iso(row.created_at),
    updatedAt: columns.iso(row.updated_at),
    startedAt: row.started_at === null ? null : columns.iso(row.started_at),
    finishedAt: row.finished_at === null ? null : columns.iso(row.finished_at),
    reason: row.reason,
    control: row.control ? columns.json(row.control) : null,
    counts: {
      received: Number(row.c_received),
      processed: Number(row.c_processed),
      skipped: Number(row.c_skipped),
      failed: Number(row.c_failed),
      quarantined: Number(row.c_quarantined),
    },
    batches: Number(row.c_batches),
    plannedItems: row.planned_items === null ? null : Number(row.planned_items),
    keys: columns.json<Record<string, string>>(row.keys),
    tuning: row.tuning,
    canary: row.canary_items === null ? null : { items: row.canary_items, left: row.canary_left ?? 0 },
    rampLanes: row.ramp_lanes,
  };
}

export interface PartitionRow {
  run_id: string;
  idx: number;
  lower: unknown;
  upper: unknown;
  label: string | null;
  child: string | null;
  cursor: unknown;
  state: PartitionState;
  fence: number | string;
  lease_owner: string | null;
  lease_expires_at: unknown;
  heartbeat_at: unknown;
  split_from: number | null;
  received: number | string;
  processed: number | string;
  skipped: number | string;
  failed: number | string;
  quarantined: number | string;
  batches: number | string;
  error: string | null;
  updated_at: unknown;
}

export function toPartition(row: PartitionRow, columns: ColumnDecoding): PartitionRecord {
  return {
    runId: row.run_id,
    index: row.idx,
    lower: columns.json<Cursor>(row.lower),
    upper: columns.json<Cursor>(row.upper),
    label: row.label,
    child: row.child,
    cursor: columns.json<Cursor>(row.cursor),
    state: row.state,
    fence: Number(row.fence),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at === null ? null : columns.instant(row.lease_expires_at),
    heartbeatAt: row.heartbeat_at === null ? null : columns.instant(row.heartbeat_at),
    splitFrom: row.split_from,
    counts: {
      received: Number(row.received),
      processed: Number(row.processed),
      skipped: Number(row.skipped),
      failed: Number(row.failed),
      quarantined: Number(row.quarantined),
    },
    batches: Number(row.batches),
    error: row.error,
    updatedAt: columns.iso(row.updated_at),
  };
}

export interface QuarantineRow {
  id: number | string;
  run_id: string;
  backfill: string;
  partition_idx: number | null;
  item_key: string;
  error_class: string;
  message: string;
  payload: string | null;
  locator: unknown;
  attempts: number;
  status: QuarantineStatus;
  created_at: unknown;
  updated_at: unknown;
}

export function toQuarantine(row: QuarantineRow, columns: ColumnDecoding): QuarantineRecord {
  return {
    id: Number(row.id),
    runId: row.run_id,
    backfill: row.backfill,
    partitionIndex: row.partition_idx,
    itemKey: row.item_key,
    errorClass: row.error_class,
    message: row.message,
    payload: row.payload,
    ...(row.locator !== null ? { locator: columns.json<Cursor>(row.locator) } : {}),
    attempts: row.attempts,
    status: row.status,
    createdAt: columns.iso(row.created_at),
    updatedAt: columns.iso(row.updated_at),
  };
}

export interface TransitionRow {
  run_id: string;
  from_state: RunState | null;
  to_state: RunState;
  actor: string;
  reason: string;
  at: unknown;
}

export function toTransition(row: TransitionRow, columns: ColumnDecoding): TransitionRecord {
  return { runId: row.run_id, from: row.from_state, to: row.to_state, actor: row.actor, reason: row.reason, at: columns.iso(row.at) };
}

export interface DecisionRow {
  id: number | string;
  run_id: string;
  worker: string;
  kind: string;
  reason: string;
  settings: unknown;
  at: unknown;
}

export function toDecision(row: DecisionRow, columns: ColumnDecoding): DecisionRecord {
  return {
    id: Number(row.id),
    runId: row.run_id,
    worker: row.worker,
    kind: row.kind,
    reason: row.reason,
    settings: columns.json<Record<string, unknown>>(row.settings),
    at: columns.iso(row.at),
  };
}

export interface VerificationRow {
  run_id: string;
  check_name: string;
  /** 0 or 1 (SQLite), a boolean (PostgreSQL). */
  passed: number | boolean;
  detail: string;
  actor: string;
  at: unknown;
}

export function toVerification(row: VerificationRow, columns: ColumnDecoding): VerificationRecord {
  return {
    runId: row.run_id,
    check: row.check_name,
    passed: row.passed === true || row.passed === 1,
    detail: row.detail,
    actor: row.actor,
    at: columns.iso(row.at),
  };
}

/** The mappings above for one dialect's columns, e.g. `rows.run(row)`, `rows.map(rows.partition)`. */
export function rowReaders(columns: ColumnDecoding) {
  return {
    run: (row: RunRow) => toRun(row, columns),
    partition: (row: PartitionRow) => toPartition(row, columns),
    quarantine: (row: QuarantineRow) => toQuarantine(row, columns),
    transition: (row: TransitionRow) => toTransition(row, columns),
    decision: (row: DecisionRow) => toDecision(row, columns),
    verification: (row: VerificationRow) => toVerification(row, columns),
  };
}
