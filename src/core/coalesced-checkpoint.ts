import { addCounts } from './counts.js';
import type { Cursor, ItemKey } from './cursor.js';
import type { CheckpointEvery } from './definition.js';
import type { QuarantineEntryInput } from './run.js';
import type { BatchCommit, CheckpointSeen, CheckpointWrite } from './store.js';

/**
 * The checkpoints of one partition lease under `delivery: 'idempotent'`: each batch's writes have
 * committed on their own, and its checkpoint waits here, merged with the ones before it, until
 * `every.ms` passed since the oldest of them began or `every.batches` of them wait. Then one
 * fenced checkpoint carries them all: the cursor moves from where the last written checkpoint
 * left it to where the newest batch ended, with the counts, ledger keys and quarantine entries of
 * every batch in between. A crash loses only what waits here, and the resume repeats it (the
 * writes are idempotent); a stale lease's checkpoint is refused by the fence as any other.
 *
 * The partition's history gets one row per written checkpoint: the counts of its batches, and the
 * duration of the slowest of them (what a batch-duration SLO asks about).
 */
export class CoalescedCheckpoint {
  private waiting: CheckpointWrite | undefined;
  private batches = 0;
  private oldestStartedAtMs = 0;
  private slowestMs = 0;

  constructor(
    private readonly store: BatchCommit,
    private readonly every: CheckpointEvery,
    /** The cursor of the partition's last written checkpoint. */
    private written: Cursor,
  ) {}

  /** Batches whose checkpoint waits (0: nothing to write). */
  get pending(): number {
    return this.batches;
  }

  /** Adds one batch's checkpoint; its `previousCursor` must be where the batch before it ended. */
  add(write: CheckpointWrite): void {
    const stats = write.stats;
    if (stats) this.slowestMs = Math.max(this.slowestMs, stats.finishedAtMs - stats.startedAtMs);
    if (!this.waiting) {
      this.waiting = { ...write, previousCursor: this.written };
      this.oldestStartedAtMs = stats?.startedAtMs ?? 0;
      this.batches = 1;
      return;
    }
    const w = this.waiting;
    this.waiting = {
      ...write,
      previousCursor: this.written,
      delta: addCounts(w.delta, write.delta),
      ledger: mergeLedger(w.ledger, write.ledger),
      quarantine: mergeQuarantine(w.quarantine, write.quarantine),
      stats: write.stats && { ...write.stats, retries: mergeRetries(w.stats?.retries, write.stats.retries) },
    };
    if (!this.waiting.stats?.retries) delete this.waiting.stats?.retries;
    this.batches += 1;
  }

  /** Whether the waiting checkpoint is to be written now (`nowMs`: the clock's ms). */
  due(nowMs: number): boolean {
    if (!this.waiting) return false;
    return this.waiting.done || this.batches >= this.every.batches || nowMs - this.oldestStartedAtMs >= this.every.ms;
  }

  /** Writes the waiting checkpoint (fenced); null when nothing waits. */
  async flush(): Promise<CheckpointSeen | null> {
    const write = this.waiting;
    if (!write) return null;
    const stats = write.stats && { ...write.stats, startedAtMs: write.stats.finishedAtMs - this.slowestMs };
    const seen = await this.store.transaction((tx) => tx.checkpoint({ ...write, ...(stats ? { stats } : {}) }));
    this.written = write.cursor;
    this.reset(write.cursor);
    return seen;
  }

  /** Forgets what waits and starts again from `cursor` (the store's, after a failed write). */
  reset(cursor: Cursor): void {
    this.written = cursor;
    this.waiting = undefined;
    this.batches = 0;
    this.slowestMs = 0;
  }
}

function mergeLedger(a: CheckpointWrite['ledger'], b: CheckpointWrite['ledger']): CheckpointWrite['ledger'] {
  if (!a) return b;
  if (!b) return a;
  const keys: ItemKey[] = [...a.keys, ...b.keys];
  return { namespace: a.namespace, keys };
}

/** One entry per item key, the latest (a store writes an item's entry once per statement). */
function mergeQuarantine(a: CheckpointWrite['quarantine'], b: CheckpointWrite['quarantine']): QuarantineEntryInput[] | undefined {
  if (!a) return b && [...b];
  if (!b) return [...a];
  const byKey = new Map<string, QuarantineEntryInput>();
  for (const entry of [...a, ...b]) {
    byKey.delete(entry.itemKey);
    byKey.set(entry.itemKey, entry);
  }
  return [...byKey.values()];
}

function mergeRetries(a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> | undefined {
  if (!a) return b;
  if (!b) return a;
  const sum = { ...a };
  for (const [k, n] of Object.entries(b)) sum[k] = (sum[k] ?? 0) + n;
  return sum;
}
