import type { Clock } from './clock.js';
import { keysOf } from './concurrency.js';
import type { BackfillDefinition } from './definition.js';
import { UsageError } from './errors.js';
import type { RunParams } from './run.js';
import type { StartOptions } from './run-handle.js';
import { resolveRunOptions } from './run-options.js';
import { parseSince } from './since.js';
import type { PartitionSpec, SourceFilter, SourceReader } from './source.js';
import type { StoreDatabase } from './store.js';

/** What planning needs: the store (its connection for sources that read beside it) and the clock (for `since`). */
export interface PlanDeps {
  store: StoreDatabase;
  clock: Clock;
}

/** Opens the source (checking it), plans partitions and counts items: what a new run, real or dry, starts from. */
export async function planRun(deps: PlanDeps, definition: BackfillDefinition<unknown>, options: StartOptions, countBeside = false) {
  const { store, clock } = deps;
  const since = options.since === undefined ? undefined : parseSince(options.since, clock.now());
  const runOptions = resolveRunOptions(definition, options).runOptions;
  const params: RunParams = { ...(since ? { since: since.toISOString() } : {}), ...(options.params ? { extra: options.params } : {}) };
  const filter = filterOf(params);
  const keys = keysOf(definition, params);
  const children = await fanOutChildren(definition, params);
  const reader = await definition.source.open({ storeConnection: store.readConnection() });
  try {
    const partitions: PartitionSpec[] = [];
    if (children === undefined) {
      partitions.push(...(await reader.plan({ partitions: runOptions.concurrency, filter })));
    } else {
      // Each child gets its share of the lanes (at least one partition); idle lanes split later.
      const each = Math.max(1, Math.floor(runOptions.concurrency / children.length));
      for (const child of children) {
        for (const spec of await reader.plan({ partitions: each, filter, child })) {
          partitions.push({ ...spec, child, label: `${definition.fanOut!.by}=${child}${spec.label ? ` ${spec.label}` : ''}` });
        }
      }
    }
    // The plan may have counted already. Otherwise a run about to start here counts beside its
    // first batches where the source can (a count of a huge table takes minutes); a run for
    // workers, a dry run or a preview counts now.
    const planned = partitions.every((p) => p.items !== undefined) ? partitions.reduce((sum, p) => sum + p.items!, 0) : undefined;
    const counting =
      planned === undefined && countBeside && children === undefined && reader.countBeside
        ? await reader.countBeside({ partition: { lower: null, upper: null }, cursor: null, filter })
        : undefined;
    const plannedItems = planned ?? (counting ? null : await countItems(reader, partitions, filter));
    return { filter, runOptions, params, keys, reader, partitions, plannedItems, counting };
  } catch (error) {
    await reader.close().catch(() => undefined);
    throw error;
  }
}

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
