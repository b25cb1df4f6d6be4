import { BatchRunner } from './batch-runner.js';
import type { Clock } from './clock.js';
import type { BackfillDefinition } from './definition.js';
import type { Logger } from './logger.js';
import type { RunParams } from './run.js';
import type { Cursor } from './cursor.js';
import type { MalformedRecord, PartitionSpec, SourceFilter, SourceReader } from './source.js';
import type { BatchCommit } from './store.js';

/** One bucket of a sampled dry run. */
export interface SampleBucket {
  bucket: 'small' | 'medium' | 'large' | 'malformed';
  items: number;
  /** Smallest and largest payload in the bucket (bytes of its JSON); null for malformed records. */
  bytes: [number, number] | null;
  processed: number;
  quarantined: number;
  /** Error classes of the quarantined items, with counts. */
  errors: Record<string, number>;
}

export interface SampleReport {
  backfill: string;
  /** Items read to choose the sample from. */
  scanned: number;
  buckets: SampleBucket[];
  durationMs: number;
}

export interface SampleInput {
  definition: BackfillDefinition<unknown>;
  reader: SourceReader<unknown>;
  partitions: readonly PartitionSpec[];
  filter: SourceFilter;
  params: RunParams;
  /** The store's batch transactions, which every bucket's dry run rolls back. */
  store: BatchCommit;
  clock: Clock;
  logger: Logger;
  /** Items per bucket. */
  perBucket: number;
  /** Items to read at most to choose from. */
  scan: number;
}

/**
 * Seed 001's dry run by hand, as one step: read up to `scan` items, split them by payload size into
 * thirds (small, medium, large), take `perBucket` of each plus the malformed records the source
 * reported, and process each bucket as a dry-run batch (ctx.dryRun, the transaction rolled back,
 * nothing recorded). The report says, per bucket, what would have been processed and what would
 * have failed, and why.
 */
export async function sampleDryRun(input: SampleInput): Promise<SampleReport> {
  const started = input.clock.now();
  const seen: Array<{ item: unknown; bytes: number }> = [];
  const malformed: MalformedRecord[] = [];
  for (const partition of input.partitions) {
    // A partition is read from its start with a null cursor (its lower bound is inclusive; a cursor means "after").
    let cursor: Cursor = null;
    while (seen.length < input.scan) {
      const batch = await input.reader.read({ partition, cursor, limit: Math.min(500, input.scan - seen.length), filter: input.filter });
      for (const item of batch.items) seen.push({ item, bytes: Buffer.byteLength(JSON.stringify(item) ?? '') });
      malformed.push(...batch.malformed);
      cursor = batch.cursor;
      if (batch.done || (batch.items.length === 0 && batch.malformed.length === 0)) break;
    }
    if (seen.length >= input.scan) break;
  }
  seen.sort((a, b) => a.bytes - b.bytes);
  const third = Math.ceil(seen.length / 3);
  const groups: Array<[SampleBucket['bucket'], Array<{ item: unknown; bytes: number }>]> = [
    ['small', seen.slice(0, third)],
    ['medium', seen.slice(third, 2 * third)],
    ['large', seen.slice(2 * third)],
  ];
  const buckets: SampleBucket[] = [];
  for (const [bucket, group] of groups) {
    const chosen = spread(group, input.perBucket);
    buckets.push(
      await processBucket(
        input,
        bucket,
        chosen.map((c) => c.item),
        [],
        chosen.length > 0 ? [chosen[0]!.bytes, chosen[chosen.length - 1]!.bytes] : null,
      ),
    );
  }
  if (malformed.length > 0) buckets.push(await processBucket(input, 'malformed', [], malformed.slice(0, input.perBucket), null));
  return { backfill: input.definition.name, scanned: seen.length + malformed.length, buckets, durationMs: input.clock.now() - started };
}

/** `n` items spread evenly over a sorted group (its smallest, its largest and between). */
function spread<T>(group: readonly T[], n: number): T[] {
  if (group.length <= n) return [...group];
  return Array.from({ length: n }, (_, i) => group[Math.round((i * (group.length - 1)) / Math.max(1, n - 1))]!);
}

async function processBucket(
  input: SampleInput,
  bucket: SampleBucket['bucket'],
  items: unknown[],
  malformed: MalformedRecord[],
  bytes: [number, number] | null,
): Promise<SampleBucket> {
  const errors: Record<string, number> = {};
  const runner = new BatchRunner({
    store: input.store,
    definition: input.definition,
    run: { id: 'sample', backfill: input.definition.name, params: input.params },
    retry: { ...input.definition.retry, attempts: 1 },
    dryRun: true,
    leaseMs: 60_000,
    clock: input.clock,
    logger: input.logger,
    onRetry: () => undefined,
    onQuarantine: (info) => (errors[info.errorClass] = (errors[info.errorClass] ?? 0) + info.count),
  });
  if (items.length === 0 && malformed.length === 0) return { bucket, items: 0, bytes, processed: 0, quarantined: 0, errors };
  const result = await runner.run({
    partition: 0,
    lease: undefined,
    previousCursor: null,
    read: { items, malformed, cursor: null, done: false },
    startedAtMs: input.clock.now(),
    signal: new AbortController().signal,
    batch: 1,
  });
  return {
    bucket,
    items: items.length + malformed.length,
    bytes,
    processed: result.delta.processed,
    quarantined: result.delta.quarantined,
    errors,
  };
}
