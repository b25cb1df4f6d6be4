/**
 * How one dialect hands back the columns whose shape differs between the two stores, so that the
 * row mappings are written once: SQLite keeps JSON as text, times as ISO text (stamps) or ms since
 * the epoch (lease times), and counts as numbers; PostgreSQL returns jsonb parsed, timestamptz as
 * `Date`, and bigint counts as numeric strings (those every mapping reads with `Number`).
 */
export interface ColumnDecoding {
  /** A JSON column's value. Not "parse when a string": jsonb may hold a string (a cursor can be one). */
  json<T>(value: unknown): T;
  /** A timestamp column as ISO text. */
  iso(value: unknown): string;
  /** A lease time column (SQLite: ms since the epoch) as ISO text. */
  instant(value: unknown): string;
}

export const SQLITE_COLUMNS: ColumnDecoding = {
  json: <T>(value: unknown) => JSON.parse(value as string) as T,
  iso: (value) => value as string,
  instant: (value) => new Date(value as number).toISOString(),
};

export const POSTGRES_COLUMNS: ColumnDecoding = {
  json: <T>(value: unknown) => value as T,
  iso: (value) => (value as Date).toISOString(),
  instant: (value) => (value as Date).toISOString(),
};
