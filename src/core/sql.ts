/**
 * The small SQL surface the core and the sources need, implemented by each store adapter
 * (SQLite today, PostgreSQL next). Values are always parameters; identifiers are quoted with
 * `quoteIdentifier` after validation.
 */
export type SqlDialect = 'sqlite' | 'postgres';

/**
 * A parameter. Arrays go to PostgreSQL as arrays (`unnest($1::int[])`, `= ANY($1)`); SQLite has
 * none and refuses them (pass JSON text and read it with `json_each(?)`).
 */
export type SqlValue = string | number | bigint | boolean | null | Buffer | Date | readonly SqlValue[];
export type SqlRow = Record<string, unknown>;

/**
 * A connection that can run statements. Placeholders: `?` on SQLite; on PostgreSQL `$1, $2, …`
 * (passed as written, so `?` stays the jsonb operator) or `?` (portable: numbered in order when the
 * statement has parameters and no `$n`). A statement without parameters is always passed as written.
 */
export interface SqlConnection {
  readonly dialect: SqlDialect;
  /** Runs a statement that returns rows. */
  query<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Runs a statement that changes rows; returns how many it changed. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Runs one statement once per parameter list (prepared once); returns the total rows changed. */
  executeMany(sql: string, paramsList: readonly (readonly SqlValue[])[]): Promise<{ changes: number }>;
  /**
   * Whether a query issued now would run beside the ones in flight (a pool with a connection to
   * spare) rather than wait behind them. Absent: never (one connection, or a synchronous driver).
   */
  hasSpareConnection?(): boolean;
  /**
   * Opens a read-only view of the database as of now (a snapshot on a connection of its own),
   * for a query that runs later beside other work and must not see what that work commits.
   * Absent: the dialect or the connection cannot.
   */
  snapshot?(): Promise<SqlSnapshot>;
}

/** A read-only snapshot taken by `SqlConnection.snapshot()`: query it, then release it (always). */
export interface SqlSnapshot {
  query<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Ends the snapshot and hands its connection back; with `abort`, closes the connection (a query in flight fails). */
  release(abort?: boolean): Promise<void>;
}

/**
 * The open batch transaction on the store's own database, handed to `process` as `ctx.tx` when a
 * backfill is `transactional`: everything done through it commits together with the checkpoint.
 */
export interface SqlTransaction extends SqlConnection {
  /** The driver's own handle (a better-sqlite3 `Database`, a `pg` client), for what the surface above lacks. */
  readonly raw: unknown;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Validates an identifier from configuration (table, column) and quotes it. */
export function quoteIdentifier(name: string, what = 'identifier'): string {
  if (!IDENTIFIER.test(name)) {
    throw new TypeError(`${what} "${name}" is not a plain SQL identifier (letters, digits and _ only, not starting with a digit)`);
  }
  return `"${name}"`;
}

/** Validates and quotes a possibly schema-qualified table name (`schema.table`). */
export function quoteQualifiedName(name: string, what = 'table'): string {
  const parts = name.split('.');
  if (parts.length > 2) throw new TypeError(`${what} "${name}" has more than one dot; use "table" or "schema.table"`);
  return parts.map((p) => quoteIdentifier(p, what)).join('.');
}
