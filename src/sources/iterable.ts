import { isDeepStrictEqual } from 'node:util';
import type { Cursor } from '../core/cursor.js';
import type { Source, SourceBatch, SourceReader } from '../core/source.js';

export interface IterableSourceOptions<Item> {
  /** Items after `cursor` (`null`: from the start), in a stable order. */
  from: (cursor: Cursor) => AsyncIterable<Item> | Iterable<Item>;
  /** The cursor to resume after `item`. */
  cursorOf: (item: Item) => Cursor;
  /** How many items there are in all, for progress and ETA. */
  count?: () => number | Promise<number>;
  description?: string;
}

/**
 * Any (async) iterable plus a way to resume it from a cursor. One partition; the iterator stays
 * open between batches and is recreated from the checkpointed cursor after a restart.
 */
export function iterable<Item>(options: IterableSourceOptions<Item>): Source<Item> {
  return {
    kind: 'iterable',
    description: options.description ?? 'an iterable',
    async open() {
      return new IterableReader(options);
    },
  };
}

class IterableReader<Item> implements SourceReader<Item> {
  private iterator: AsyncIterator<Item> | Iterator<Item> | undefined;
  /** Where the open iterator stands: the cursor after the last item it gave. */
  private position: Cursor = null;
  /** One item read ahead to know whether the iterator is exhausted. */
  private lookahead: { item: Item } | undefined;
  private finished = false;

  constructor(private readonly options: IterableSourceOptions<Item>) {
    const count = options.count;
    if (count) this.count = async () => count();
  }

  async plan() {
    return [{ lower: null, upper: null, label: 'all items' }];
  }

  async read({ cursor, limit }: { cursor: Cursor; limit: number }): Promise<SourceBatch<Item>> {
    try {
      if (!this.iterator || !isDeepStrictEqual(cursor, this.position)) await this.restart(cursor);
      const items: Item[] = [];
      let next = cursor;
      while (items.length < limit) {
        const entry = await this.next();
        if (!entry) break;
        items.push(entry.item);
        next = this.options.cursorOf(entry.item);
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
      this.iterator = undefined;
      this.lookahead = undefined;
      throw new Error(`iterable source failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
  }

  /** Present only when the user gave `count`: the engine then shows a percentage and an ETA. */
  readonly count?: () => Promise<number>;

  async close(): Promise<void> {
    await this.iterator?.return?.();
    this.iterator = undefined;
  }

  private async restart(cursor: Cursor): Promise<void> {
    await this.close();
    const source = this.options.from(cursor);
    this.iterator = Symbol.asyncIterator in source ? (source as AsyncIterable<Item>)[Symbol.asyncIterator]() : (source as Iterable<Item>)[Symbol.iterator]();
    this.position = cursor;
    this.lookahead = undefined;
    this.finished = false;
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
