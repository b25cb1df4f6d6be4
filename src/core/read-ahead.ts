import type { Cursor } from './cursor.js';
import type { PartitionSpec, SourceBatch, SourceFilter, SourceReader } from './source.js';

/**
 * A lane waited longer than this between two batches (a throttle's wait, a pace, a retune): the
 * batch read ahead is older than the batches a lane reads in stride, so it is read again.
 */
export const READ_AHEAD_STALE_MS = 100;

interface Pending {
  from: Cursor;
  upper: Cursor;
  limit: number;
  batch: Promise<SourceBatch<unknown> | undefined>;
}

/**
 * One lane's next batch, read while its current batch is processed and committed, so that the
 * read's round trip overlaps the commit's instead of following it. The batch read ahead is used
 * only if the lane goes on from exactly where it was read from, to the same partition end (a split
 * may have moved it) and with the same size, without having waited meanwhile; anything else reads
 * afresh. A read ahead that fails is forgotten: the lane's own read retries as it always does.
 */
export class ReadAhead {
  private pending: Pending | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly reader: SourceReader<unknown>,
    private readonly filter: SourceFilter,
  ) {}

  /** Starts reading the batch after `from`, when the source says such a read runs beside the lane's work. */
  start(partition: PartitionSpec, from: Cursor, limit: number): void {
    if (this.reader.mayReadAhead?.() !== true) return;
    const batch = this.reader.read({ partition, cursor: from, limit, filter: this.filter }).catch(() => undefined);
    this.track(batch);
    this.pending = { from, upper: partition.upper, limit, batch };
  }

  /** The batch read ahead, if it is the one the lane would read now; otherwise undefined. */
  async take(partition: PartitionSpec, from: Cursor, limit: number, idleMs: number): Promise<SourceBatch<unknown> | undefined> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending || pending.from !== from || pending.limit !== limit || idleMs > READ_AHEAD_STALE_MS) return undefined;
    if (JSON.stringify(pending.upper) !== JSON.stringify(partition.upper)) return undefined;
    return pending.batch;
  }

  /** Waits for reads still in flight, so that none outlives the lane (and the source it reads). */
  async settle(): Promise<void> {
    this.pending = undefined;
    await Promise.all(this.inFlight);
  }

  private track(batch: Promise<unknown>): void {
    this.inFlight.add(batch);
    void batch.finally(() => this.inFlight.delete(batch));
  }
}
