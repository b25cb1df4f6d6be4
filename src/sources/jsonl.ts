import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Cursor, ItemKey } from '../core/cursor.js';
import { errorClassOf, messageOf, SourceError } from '../core/errors.js';
import { parseIsoInstant } from '../core/instant.js';
import type { MalformedRecord, PartitionSpec, ReplayRequest, Source, SourceBatch, SourceFilter, SourceReader } from '../core/source.js';

export interface JsonlOptions<Item> {
  path: string;
  /** Validates or transforms a parsed line; throwing quarantines the line. */
  parse?: (value: unknown, line: string) => Item;
  /** Field holding the item's time (ISO string, UTC when it names no zone, or epoch ms), for `--since`: earlier items are skipped. */
  sinceField?: string;
  /** Bytes per read (default 64 KiB); small values are for tests. */
  chunkSize?: number;
}

const NEWLINE = 0x0a;
const SAMPLE = 500;
const DEFAULT_CHUNK = 64 * 1024;

/**
 * A JSON-lines file, resumable at a byte offset: the cursor is the offset after the last line
 * consumed. Lines that are not JSON (or that `parse` rejects) are returned as malformed records
 * and quarantined; the run goes on. Blank lines are skipped and count for nothing.
 */
export function jsonl<Item = unknown>(options: JsonlOptions<Item>): Source<Item> {
  if (!options || typeof options.path !== 'string' || options.path === '') throw new SourceError('jsonl: path must name a JSON-lines file');
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new SourceError(`jsonl: chunkSize must be a positive integer, got ${String(options.chunkSize)}`);
  return {
    kind: 'jsonl',
    description: `${basename(options.path)} (JSON lines)`,
    async open() {
      let handle: FileHandle | undefined;
      try {
        handle = await open(options.path, 'r');
        const stat = await handle.stat();
        if (!stat.isFile()) throw new Error('it is not a regular file');
        const head = Buffer.alloc(3);
        const { bytesRead } = await handle.read(head, 0, 3, 0);
        const bom = bytesRead === 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
        return new JsonlReader<Item>(handle, stat.size, bom, chunkSize, options);
      } catch (error) {
        await handle?.close().catch(() => undefined);
        throw new SourceError(`cannot read JSON-lines file ${options.path}: ${messageOf(error)}`, { cause: error });
      }
    },
  };
}

/** One line as the scanner sees it: `bytes` (without `\n`) is valid only during the visit. */
interface ScannedLine {
  /** Byte offset of the line's start. */
  offset: number;
  /** Byte offset of the next line's start. */
  next: number;
  /** Only spaces, tabs and `\r`. */
  blank: boolean;
  bytes: Buffer | undefined;
}

type Request = { partition: PartitionSpec; cursor: Cursor; filter: SourceFilter };

class JsonlReader<Item> implements SourceReader<Item> {
  constructor(
    private readonly handle: FileHandle,
    /** The size at open: lines appended later belong to the next run. */
    private readonly size: number,
    /** The file starts with a UTF-8 byte order mark, which is not part of the first line. */
    private readonly bom: boolean,
    private readonly chunkSize: number,
    private readonly options: JsonlOptions<Item>,
  ) {}

  /** Up to `partitions` byte ranges of nearly equal size, each starting at a line start. */
  async plan({ partitions, child }: { partitions: number; filter: SourceFilter; child?: string }): Promise<PartitionSpec[]> {
    if (child !== undefined) {
      throw new SourceError(
        'jsonl: a file cannot be fanned out by child (every child would read every line); give each child its own backfill, or use an iterable source that reads per child',
      );
    }
    const starts = [0];
    const n = Math.max(1, Math.floor(partitions) || 1);
    for (let i = 1; i < n; i++) {
      const start = await this.lineStartAtOrAfter(Math.floor((this.size * i) / n));
      if (start > starts[starts.length - 1]! && start < this.size) starts.push(start);
    }
    return starts.map((lower, i) => {
      const upper = starts[i + 1] ?? null;
      return { lower, upper, label: `bytes ${lower}..${upper ?? this.size}` };
    });
  }

  async read({ partition, cursor, limit, filter }: Request & { limit: number }): Promise<SourceBatch<Item>> {
    const end = this.end(partition);
    const start = this.start(partition, cursor);
    const items: Item[] = [];
    const malformed: MalformedRecord[] = [];
    // Lines skipped (blank, before `since`) do not fill the batch; past this many the read returns
    // what it has so that the checkpoint moves on through a long skipped stretch.
    const maxSkipped = Math.max(10 * limit, 10_000);
    let skipped = 0;
    let offset = start;
    if (limit > 0 && start < end) {
      await this.scan(start, end, true, (line) => {
        offset = line.next;
        if (line.blank) return ++skipped < maxSkipped;
        const parsed = this.parse(line.offset, line.bytes!);
        if ('malformed' in parsed) malformed.push(parsed.malformed);
        else if (this.before(parsed.item, filter)) return ++skipped < maxSkipped;
        else items.push(parsed.item);
        return items.length + malformed.length < limit;
      });
    }
    return { items, malformed, cursor: offset, done: offset >= end };
  }

  /** The non-blank lines left in the partition (malformed ones included; `since` not applied). */
  async count({ partition, cursor }: Request): Promise<number> {
    const end = this.end(partition);
    let count = 0;
    await this.scan(this.start(partition, cursor), end, false, (line) => {
      if (!line.blank) count += 1;
      return true;
    });
    return count;
  }

  /** The start of the middle non-blank line of what is left, when both halves hold `minItems` lines. */
  async split({ partition, cursor, minItems }: Request & { minItems: number }): Promise<Cursor | null> {
    const start = this.start(partition, cursor);
    const end = this.end(partition);
    const left = await this.count({ partition, cursor, filter: {} });
    const min = Math.max(1, Math.ceil(minItems));
    if (left < 2 * min) return null;
    const half = Math.floor(left / 2);
    let seen = 0;
    let at: number | null = null;
    await this.scan(start, end, false, (line) => {
      if (line.blank) return true;
      if (seen === half) {
        at = line.offset;
        return false;
      }
      seen += 1;
      return true;
    });
    return at;
  }

  /** The quarantined line again, read at its byte offset and parsed afresh. */
  async refetch(requests: readonly ReplayRequest[]): Promise<Array<{ key: ItemKey; item?: Item; error?: MalformedRecord }>> {
    const out: Array<{ key: ItemKey; item?: Item; error?: MalformedRecord }> = [];
    for (const request of requests) {
      const locator = request.locator;
      if (locator === undefined || locator === null) {
        // Not a malformed line (process failed on it): the stored item is the freshest copy we have.
        if (request.payload === undefined) {
          out.push({
            key: request.key,
            error: {
              key: request.key,
              errorClass: 'NOT_FOUND',
              message: 'neither a stored item nor a byte offset to read it from',
              sample: '',
            },
          });
        } else out.push({ key: request.key, item: request.payload as Item });
        continue;
      }
      if (typeof locator !== 'number' || !Number.isSafeInteger(locator) || locator < 0 || locator >= this.size) {
        out.push({
          key: request.key,
          error: {
            key: request.key,
            errorClass: 'NOT_FOUND',
            message: `${this.options.path} has no line at byte ${JSON.stringify(locator)} (it has ${this.size} bytes)`,
            sample: '',
          },
        });
        continue;
      }
      let result: { item: Item } | { malformed: MalformedRecord } | undefined;
      await this.scan(locator, this.size, true, (line) => {
        result = this.parse(line.offset, line.bytes!);
        return false;
      });
      if (!result)
        out.push({
          key: request.key,
          error: { key: request.key, errorClass: 'NOT_FOUND', message: `no line at byte ${locator}`, sample: '' },
        });
      else if ('malformed' in result) out.push({ key: request.key, error: { ...result.malformed, key: request.key } });
      else out.push({ key: request.key, item: result.item });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  private end(partition: PartitionSpec): number {
    return typeof partition.upper === 'number' ? Math.min(partition.upper, this.size) : this.size;
  }

  private start(partition: PartitionSpec, cursor: Cursor): number {
    const position = cursor ?? partition.lower ?? 0;
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) {
      throw new SourceError(
        `jsonl(${this.options.path}): ${JSON.stringify(position)} is not a byte offset; was the source changed since the run started?`,
      );
    }
    return position;
  }

  private parse(offset: number, bytes: Buffer): { item: Item } | { malformed: MalformedRecord } {
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { malformed: malformed(offset, 'PARSE_ERROR', messageOf(error), text) };
    }
    if (!this.options.parse) return { item: value as Item };
    try {
      return { item: this.options.parse(value, text) };
    } catch (error) {
      const errorClass = error instanceof SyntaxError ? 'PARSE_ERROR' : errorClassOf(error);
      return { malformed: malformed(offset, errorClass, messageOf(error), text) };
    }
  }

  /** True when `item` is dated before `since` (items without a readable date are kept). */
  private before(item: Item, filter: SourceFilter): boolean {
    if (!filter.since || !this.options.sinceField || !item || typeof item !== 'object') return false;
    const raw = (item as Record<string, unknown>)[this.options.sinceField];
    const time = typeof raw === 'number' ? raw : typeof raw === 'string' ? instantOf(raw) : raw instanceof Date ? raw.getTime() : NaN;
    return Number.isFinite(time) && time < filter.since.getTime();
  }

  /**
   * Visits the lines from `start` (a line start) to `end` in order, reading `chunkSize` bytes at a
   * time; a line split across chunks is joined as bytes before it is decoded, so multi-byte
   * characters survive any chunk size. The last line may lack its `\n`. `visit` returns false to stop.
   */
  private async scan(start: number, end: number, withBytes: boolean, visit: (line: ScannedLine) => boolean): Promise<void> {
    const buffer = Buffer.allocUnsafe(Math.min(this.chunkSize, Math.max(1, end - start)));
    let position = start === 0 && this.bom ? 3 : start;
    let lineStart = start;
    let pending: Buffer[] = [];
    let pendingContent = false;
    while (position < end) {
      const length = Math.min(buffer.length, end - position);
      const { bytesRead } = await this.handle.read(buffer, 0, length, position);
      if (bytesRead === 0) {
        throw new SourceError(
          `JSON-lines file ${this.options.path} shrank while being read (it had ${this.size} bytes, now ends before byte ${end})`,
          {
            hint: 'a file being backfilled must not be truncated or rewritten; start a new run on the new file',
          },
        );
      }
      const chunk = buffer.subarray(0, bytesRead);
      let from = 0;
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, from);
        if (newline === -1) break;
        const piece = chunk.subarray(from, newline);
        const next = position + newline + 1;
        const blank = !pendingContent && !hasContent(piece);
        const bytes = withBytes ? (pending.length ? Buffer.concat([...pending, piece]) : piece) : undefined;
        pending = [];
        pendingContent = false;
        if (!visit({ offset: lineStart, next, blank, bytes })) return;
        lineStart = next;
        from = newline + 1;
      }
      if (from < chunk.length) {
        const rest = chunk.subarray(from);
        if (!pendingContent) pendingContent = hasContent(rest);
        // The buffer is reused for the next chunk: keep a copy.
        if (withBytes) pending.push(Buffer.from(rest));
      }
      position += bytesRead;
    }
    // A last line without a newline at the end of the range (the end of the file).
    if (lineStart < end)
      visit({ offset: lineStart, next: end, blank: !pendingContent, bytes: withBytes ? Buffer.concat(pending) : undefined });
  }

  /** The first line start at or after `offset`. */
  private async lineStartAtOrAfter(offset: number): Promise<number> {
    if (offset <= 0) return 0;
    const buffer = Buffer.allocUnsafe(this.chunkSize);
    // The byte before `offset` is a newline exactly when `offset` is a line start.
    let position = offset - 1;
    while (position < this.size) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(this.chunkSize, this.size - position), position);
      if (bytesRead === 0) break;
      const newline = buffer.subarray(0, bytesRead).indexOf(NEWLINE);
      if (newline !== -1) return position + newline + 1;
      position += bytesRead;
    }
    return this.size;
  }
}

/** An ISO date or time (UTC when it names no zone, whatever the process's zone), else any other form Date.parse reads. */
function instantOf(text: string): number {
  const iso = parseIsoInstant(text);
  return Number.isNaN(iso) ? Date.parse(text) : iso;
}

function malformed(offset: number, errorClass: string, message: string, text: string): MalformedRecord {
  return { key: `offset:${offset}`, errorClass, message, sample: sample(text), locator: offset };
}

/** The first SAMPLE characters, without cutting a surrogate pair in half. */
function sample(text: string): string {
  if (text.length <= SAMPLE) return text;
  const code = text.charCodeAt(SAMPLE - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? SAMPLE - 1 : SAMPLE);
}

/** Whether the bytes hold anything but spaces, tabs and carriage returns. */
function hasContent(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return true;
  }
  return false;
}
