/**
 * The canonical text of a run's parameters (`params.extra`, object keys sorted at every depth):
 * two starts with equal parameters get the same key whatever order they were written in, so that
 * the store finds a backfill's open run by an indexed column instead of comparing JSON in memory.
 */
export function paramsKey(extra: Record<string, unknown> | undefined): string {
  return JSON.stringify(extra ?? {}, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}
