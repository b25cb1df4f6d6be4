/**
 * A cursor is an opaque, JSON-serialisable position in a source: the last key read by a keyset
 * source, a byte offset in a file, a page token. Only the source that produced it interprets it.
 */
export type Cursor = null | boolean | number | string | Cursor[] | { [key: string]: Cursor };

/** Item keys are strings: what the ledger stores and idempotency keys are derived from. */
export type ItemKey = string;

/** Turns what a user's `key(item)` returned into a ledger key, rejecting values that would not be stable. */
export function normalizeItemKey(value: unknown, backfill: string): ItemKey {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  throw new TypeError(`backfill "${backfill}": key(item) must return a non-empty string or a finite number, got ${describeValue(value)}`);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return 'an empty string';
  return `${typeof value} ${String(value)}`;
}
