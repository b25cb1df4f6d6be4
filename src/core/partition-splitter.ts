import type { Cursor } from './cursor.js';
import type { CheckpointEvery } from './definition.js';
import type { Logger } from './logger.js';
import type { PartitionRecord } from './run.js';
import type { PartitionSpec, SourceFilter, SourceReader } from './source.js';
import type { Store } from './store.js';

/** What the splitter reads and writes: the run's partitions in the store, and its source. */
export interface PartitionSplitterConfig {
  store: Store;
  reader: SourceReader<unknown>;
  filter: SourceFilter;
  runId: string;
  logger: Logger;
  /** `delivery: 'idempotent'`'s coalesced checkpoints: each may carry this many batches. */
  checkpointEvery: CheckpointEvery | undefined;
  /** Called once a split is stored, before it is logged: the run has one partition more. */
  onSplit: () => void;
}

/** The lane's pace, as it is when the lane looks for a partition to split. */
export interface LanePace {
  /** Items per batch now (the throttle's, or the run's). */
  batchSize: number;
  /** Batches a lane keeps in flight (see `CommitWindow`). */
  windowSize: number;
}

/**
 * The fewest items the split leaves between the holder's cursor and the split point: three
 * checkpoints (coalesced checkpoints carry up to `checkpointEvery.batches` batches each, and as
 * many more may run before the holder's next one), plus the holder's window of batches in flight
 * past its checkpoint, at the current batch size.
 */
export function minItemsToSplit(checkpointEvery: CheckpointEvery | undefined, pace: LanePace): number {
  const checkpoints = checkpointEvery ? 3 * checkpointEvery.batches + 3 : 3;
  return (checkpoints + pace.windowSize - 1) * pace.batchSize;
}

/**
 * Gives an idle lane work when nothing is left to claim: halves the partition with the most items
 * left, so that every lane and worker finishes together instead of waiting on one straggler.
 */
export class PartitionSplitter {
  /** Splits the store refused in a row (the holder moved on meanwhile). */
  private missedSplits = 0;

  constructor(private readonly config: PartitionSplitterConfig) {}

  /**
   * Splits the partition with the most items left, when the source can. The split point leaves at
   * least three batches after the cursor we saw, and the store refuses the split if the holder
   * committed more than one batch since: the holder learns its new end at its next checkpoint, so
   * the batches it reads with the old end (one committed, one in flight) stop short of the split.
   * Coalesced checkpoints (`delivery: 'idempotent'`) each carry up to `checkpointEvery.batches`
   * batches, and as many more may run before the holder's next one: the split point leaves room for
   * three such checkpoints. While a batch waits to retry, the holder reads on past its checkpoint, up
   * to its window of batches in flight: the split point leaves room for those too.
   *
   * True when the lane should look for work again (a partition was split, or the store refused a
   * split a few times in a row); false when there is nothing worth splitting.
   */
  async splitLargest(pace: LanePace): Promise<boolean> {
    const config = this.config;
    if (!config.reader.split || !config.reader.count) return false;
    const minItems = minItemsToSplit(config.checkpointEvery, pace);
    let best: { index: number; cursor: Cursor; batches: number; spec: PartitionSpec; left: number } | undefined;
    for (const p of await config.store.listPartitions(config.runId)) {
      if (p.state !== 'running' && p.state !== 'pending') continue;
      const spec = specOf(p);
      const left = await config.reader.count({ partition: spec, cursor: p.cursor, filter: config.filter });
      if (left >= 2 * minItems && (!best || left > best.left)) best = { index: p.index, cursor: p.cursor, batches: p.batches, spec, left };
    }
    if (!best) return false;
    const at = await config.reader.split({ partition: best.spec, cursor: best.cursor, filter: config.filter, minItems });
    if (at === null) return false;
    const created = await config.store.splitPartition(
      config.runId,
      best.index,
      { batches: best.batches, upper: best.spec.upper },
      at,
      null,
    );
    if (created === undefined) return ++this.missedSplits < 5; // the holder moved on meanwhile: look again, a few times
    this.missedSplits = 0;
    config.onSplit();
    config.logger.info(
      { runId: config.runId, partition: best.index, newPartition: created, itemsLeft: best.left },
      'split the largest partition for an idle lane',
    );
    return true;
  }
}

/** A stored partition's range, as the source reads it. */
export function specOf(partition: PartitionRecord): PartitionSpec {
  return {
    lower: partition.lower,
    upper: partition.upper,
    ...(partition.label !== null ? { label: partition.label } : {}),
    ...(partition.child !== null ? { child: partition.child } : {}),
  };
}
