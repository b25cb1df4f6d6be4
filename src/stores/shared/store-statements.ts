import type { SqlValue } from '../../core/sql.js';
import type { rowReaders } from './run-rows.js';

/** Sluice's tables by the names statements give them (`t.tokens`, …), as SQLite names them; PostgreSQL qualifies each with the store's schema. */
export const TABLES = {
  runs: 'sluice_runs',
  partitions: 'sluice_partitions',
  transitions: 'sluice_transitions',
  quarantine: 'sluice_quarantine',
  ledger: 'sluice_ledger',
  decisions: 'sluice_decisions',
  batches: 'sluice_batches',
  alerts: 'sluice_alerts',
  alertEvents: 'sluice_alert_events',
  outbox: 'sluice_alert_notifications',
  tokens: 'sluice_tokens',
  verifications: 'sluice_verifications',
} as const;

export type StoreTable = keyof typeof TABLES;

/**
 * What one store gives the statements both dialects share (the ports written once in this folder:
 * `api-tokens.ts`, `verifications.ts`, `quarantine-reads.ts`). Those statements use `?`
 * placeholders (numbered for PostgreSQL) and name tables through `t`; what differs between the
 * dialects is here: the tables' names, how a statement writes now, which connection runs it, and
 * how rows are decoded. A statement that differs in more than that (locking, upserts, time columns
 * kept as ms on SQLite but as timestamptz on PostgreSQL) stays in the dialect's own module.
 */
export interface StoreStatements {
  /** Sluice's tables as this store's statements name them. */
  readonly t: Readonly<Record<StoreTable, string>>;
  /**
   * Now, for a timestamp column: SQLite a `?` bound to the store clock's ISO time, PostgreSQL the
   * database's `now()`. Spread `params` where `sql` stands among the statement's parameters.
   */
  now(): { sql: string; params: SqlValue[] };
  /** Runs a statement that reads (SQLite: on the read connection, never waiting for the write lock). */
  read<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Runs a statement that writes, outside any transaction; the number of rows it changed. */
  write(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs a statement that writes and returns rows (`RETURNING`), outside any transaction. */
  writeReturning<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** The store's rows as Sluice's records, through the dialect's column decoding. */
  readonly decode: ReturnType<typeof rowReaders>;
}
