import { UsageError } from './errors.js';
import type { BackfillDefinition } from './definition.js';
import type { RunParams } from './run.js';
import type { PartitionSpec, SourceFilter, SourceReader } from './source.js';

/** What the source is told about the run: its `since` and its parameters. */
export function filterOf(params: RunParams): SourceFilter {
  return { ...(params.since ? { since: new Date(params.since) } : {}), ...(params.extra ? { params: params.extra } : {}) };
}

/** The children of a fan-out backfill for a run, checked: a typo must not silently drop a child. */
export async function fanOutChildren(definition: BackfillDefinition<unknown>, params: RunParams): Promise<readonly string[] | undefined> {
  const fanOut = definition.fanOut;
  if (!fanOut) return undefined;
  const children = typeof fanOut.children === 'function' ? await fanOut.children(params) : fanOut.children;
  if (!Array.isArray(children) || children.length === 0 || children.some((c) => typeof c !== 'string' || c.length === 0)) {
    throw new UsageError(
      `backfill "${definition.name}": fanOut.children must give at least one non-empty string, got ${JSON.stringify(children)}`,
    );
  }
  if (new Set(children).size !== children.length)
    throw new UsageError(`backfill "${definition.name}": fanOut.children repeats a child: ${JSON.stringify(children)}`);
  return children;
}

/** The items the plan covers: one count per fan-out child (or one in all), since a plan's slices cover all of them. */
export async function countItems(
  reader: SourceReader<unknown>,
  partitions: readonly PartitionSpec[],
  filter: SourceFilter,
): Promise<number | null> {
  if (!reader.count) return null;
  let total = 0;
  for (const child of new Set(partitions.map((p) => p.child))) {
    total += await reader.count({
      partition: { lower: null, upper: null, ...(child !== undefined ? { child } : {}) },
      cursor: null,
      filter,
    });
  }
  return total;
}
