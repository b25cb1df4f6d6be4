import { isDeepStrictEqual } from 'node:util';
import type { Cursor } from '../core/cursor.js';
import { isSluiceError, messageOf, SourceError } from '../core/errors.js';
import type { PartitionSpec, Source, SourceBatch, SourceFilter, SourceReader } from '../core/source.js';

export interface IterableSourceOptions<Item> {
  /**
   * Items after `cursor` (`null`: from the start), in a stable order. In a fan-out backfill it is
   * called per child (`context.child`, e.g. the entity type), each with that child's own cursor.
   */
  from: (cursor: Cursor, context: IterableContext) => AsyncIterable<Item> | Iterable<Item>;
  /** The cursor to resume after `item` (JSON: a string, a number, an array or object of them). */
  cursorOf: (item: Item) => Cursor;
  /** How many items there are in all (or in one fan-out child), for progress and ETA. */
  count?: (context: IterableContext) => number | Promise<number>;
  description?: string;
}

/** What the iterable is told about the run and the partition it reads. */
export interface IterableContext {
  /** The fan-out child (entity type, tenant) of the partition, in a fan-out backfill. */
  child?: string;
  /** The run's parameters (`--param installationId=42`): which account to read. */
  params: Readonly<Record<string, unknown>>;
}

/**
 * The iterable failed while being read (an API answered 500, a connection dropped). A SourceError,
 * but with its own code: the engine retries reads except for code `SOURCE` (a broken configuration
 * that retrying cannot heal), and the retry restarts the iterable from the checkpointed cursor.
 */
export class IterableReadError extends SourceError {
  override readonly code: string = 'SOURCE_READ';
}

/**
 * Any (async) iterable plus a way to resume it from a cursor. One partition (one per child in a
 * fan-out backfill); each partition's iterator stays open between batches and is recreated from
 * the checkpointed cursor after a restart.
 */
export function iterable<Item>(options: IterableSourceOptions<Item>): Source<Item> {
  if (!options || typeof options.from !== 'function' || typeof options.cursorOf !== 'function') {
    throw new SourceError('iterable: from (cursor) => iterable and cursorOf (item) => cursor are required functions');
  }
  return {
    kind: 'iterable',
    description: options.description ?? 'an iterable',
    async open() {
      return new IterableReader(options);
    },
  };
}

class IterableReader<Item> implements SourceReader<Item> {
  /** One open iterator per partition (per fan-out child): lanes read several at once. */
  private readonly streams = new Map<string, IterableStream<Item>>();

  /** Present only when the user gave `count`: the engine then shows a percentage and an ETA. */
  readonly count?: (request: { partition: PartitionSpec; filter: SourceFilter }) => Promise<number>;

  constructor(private readonly options: IterableSourceOptions<Item>) {
    const count = options.count;
    if (count) this.count = async ({ partition, filter }) => count(contextOf(partition, filter));
  }

  async plan(): Promise<PartitionSpec[]> {
    return [{ lower: null, upper: null, label: 'all items' }];
  }

  async read({
    partition,
    cursor,
    limit,
    filter,
  }: {
    partition: PartitionSpec;
    cursor: Cursor;
    limit: number;
    filter: SourceFilter;
  }): Promise<SourceBatch<Item>> {
    const name = partition.child ?? '';
    let stream = this.streams.get(name);
    if (!stream) {
      stream = new IterableStream(this.options, contextOf(partition, filter));
      this.streams.set(name, stream);
    }
    return stream.read(cursor, limit);
  }

  async close(): Promise<void> {
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) await stream.close();
  }
}

function contextOf(partition: PartitionSpec, filter: SourceFilter): IterableContext {
  return { ...(partition.child !== undefined ? { child: partition.child } : {}), params: filter.params ?? {} };
}

/** One iterator and where it stands. */
class IterableStream<Item> {
  private iterator: AsyncIterator<Item> | Iterator<Item> | undefined;
  /** Where the open iterator stands: the cursor after the last item it gave. */
  private position: Cursor = null;
  /** One item read ahead to know whether the iterator is exhausted. */
  private lookahead: { item: Item } | undefined;
  private finished = false;

  constructor(
    private readonly options: IterableSourceOptions<Item>,
    private readonly context: IterableContext,
  ) {}

  async read(cursor: Cursor, limit: number): Promise<SourceBatch<Item>> {
    try {
      // Reading from anywhere but where the open iterator stands (a restart, a retry): start over there.
      if (!this.iterator || !isDeepStrictEqual(cursor, this.position)) await this.restart(cursor);
      const items: Item[] = [];
      let next = cursor;
      while (items.length < limit) {
        const entry = await this.next();
        if (!entry) break;
        items.push(entry.item);
        next = this.cursorAfter(entry.item);
      }
      if (items.length === limit && !this.finished) {
        const peek = await this.next();
        if (peek) this.lookahead = peek;
      }
      this.position = next;
      return { items, malformed: [], cursor: next, done: this.finished && !this.lookahead };
    } catch (error) {
      // A failed iterator is finished: the next read (the engine retries with backoff) starts a
      // fresh one from the checkpointed cursor instead of mistaking the dead one for the end.
      await this.discard();
      if (isSluiceError(error) && error.code === 'SOURCE') throw error;
      throw new IterableReadError(
        `iterable source failed${this.context.child !== undefined ? ` (${this.context.child})` : ''}: ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    const iterator = this.iterator;
    this.iterator = undefined;
    this.lookahead = undefined;
    await iterator?.return?.();
  }

  private async restart(cursor: Cursor): Promise<void> {
    await this.close();
    const source = this.options.from(cursor, this.context);
    if (source && typeof (source as AsyncIterable<Item>)[Symbol.asyncIterator] === 'function') {
      this.iterator = (source as AsyncIterable<Item>)[Symbol.asyncIterator]();
    } else if (source && typeof (source as Iterable<Item>)[Symbol.iterator] === 'function') {
      this.iterator = (source as Iterable<Item>)[Symbol.iterator]();
    } else {
      throw new SourceError(
        `iterable: from(${JSON.stringify(cursor)}) returned ${source === null ? 'null' : typeof source}, not an iterable or async iterable`,
      );
    }
    this.position = cursor;
    this.finished = false;
  }

  /** Closes the iterator after a failure, ignoring what closing a broken iterator may throw. */
  private async discard(): Promise<void> {
    try {
      await this.close();
    } catch {
      // The read's own error is the one to report.
    }
  }

  private cursorAfter(item: Item): Cursor {
    const cursor = this.options.cursorOf(item);
    if (cursor === undefined || typeof cursor === 'function' || typeof cursor === 'symbol' || typeof cursor === 'bigint') {
      throw new SourceError(
        `iterable: cursorOf(item) must return a JSON value (string, number, array, object or null), got ${typeof cursor}`,
      );
    }
    return cursor;
  }

  private async next(): Promise<{ item: Item } | undefined> {
    if (this.lookahead) {
      const held = this.lookahead;
      this.lookahead = undefined;
      return held;
    }
    if (this.finished) return undefined;
    const result = await this.iterator!.next();
    if (result.done) {
      this.finished = true;
      return undefined;
    }
    return { item: result.value };
  }
}
