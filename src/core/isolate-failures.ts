/**
 * Bisects a batch that keeps failing until the failing items are isolated: halves that succeed are
 * kept, halves that fail are split again, and single items that still fail are reported with their
 * error. k bad items among n cost O(k log n) calls instead of n.
 *
 * `attempt(subset)` returns undefined on success or the error it failed with; it must undo its own
 * effects on failure (a savepoint, or an at-least-once sink).
 */
export async function isolateFailures<T>(
  items: readonly T[],
  attempt: (subset: readonly T[]) => Promise<unknown | undefined>,
  knownFailure?: unknown,
): Promise<{ succeeded: T[]; failed: Array<{ item: T; error: unknown }> }> {
  const succeeded: T[] = [];
  const failed: Array<{ item: T; error: unknown }> = [];

  async function visit(subset: readonly T[], error: unknown | undefined): Promise<void> {
    if (error === undefined) {
      succeeded.push(...subset);
      return;
    }
    if (subset.length === 1) {
      failed.push({ item: subset[0]!, error });
      return;
    }
    const middle = Math.ceil(subset.length / 2);
    for (const half of [subset.slice(0, middle), subset.slice(middle)]) {
      await visit(half, await attempt(half));
    }
  }

  if (items.length === 0) return { succeeded, failed };
  await visit(items, knownFailure === undefined ? await attempt(items) : knownFailure);
  return { succeeded, failed };
}
