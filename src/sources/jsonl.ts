import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Cursor } from '../core/cursor.js';
import { errorClassOf, SourceError } from '../core/errors.js';
import type { MalformedRecord, PartitionSpec, ReplayRequest, Source, SourceBatch, SourceFilter, SourceReader } from '../core/source.js';

export interface JsonlOptions<Item> {
  path: string;
  /** Validates or transforms a parsed line; throwing quarantines the line. */
  parse?: (value: unknown, line: string) => Item;
  /** Field holding the item's time (ISO string or epoch ms), for `--since`. */
  sinceField?: string;
  /** Read size; small values are for tests. */
  chunkSize?: number;
}

const NEWLINE = 0x0a;
const SAMPLE = 500;

/**
 * A JSON-lines file, resumable at a byte offset. Lines that are not JSON (or that `parse` rejects)
 * are returned as malformed records and quarantined; the run goes on.
 */
export function jsonl<Item = unknown>(options: JsonlOptions<Item>): Source<Item> {
  return {
    kind: 'jsonl',
    description: `${basename(options.path)} (JSON lines)`,
    async open() {
      let handle: FileHandle;
      let size: number;
      try {
        handle = await open(options.path, 'r');
        size = (await handle.stat()).size;
      } catch (error) {
        throw new SourceError(`cannot read JSON-lines file ${options.path}: ${(error as Error).message}`, { cause: error });
      }
      return new JsonlReader<Item>(handle, size, options);
    },
  };
}

interface Line {
  offset: number;
  text: string;
}

class JsonlReader<Item> implements SourceReader<Item> {
  private readonly chunkSize: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
    private readonly options: JsonlOptions<Item>,
  ) {
    this.chunkSize = options.chunkSize ?? 64 * 1024;
  }

  async plan({ partitions }: { partitions: number }): Promise<PartitionSpec[]> {
    const bounds = [0];
    for (let i = 1; i < partitions; i++) {
      const start = await this.lineStartAtOrAfter(Math.floor((this.size * i) / partitions));
      if (start > bounds[bounds.length - 1]! && start < this.size) bounds.push(start);
    }
    return bounds.map((lower, i) => {
      const upper = bounds[i + 1] ?? null;
      return { lower, upper, label: `bytes ${lower}..${upper ?? this.size}` };
    });
  }

  async read({ partition, cursor, limit, filter }: { partition: PartitionSpec; cursor: Cursor; limit: number; filter: SourceFilter }): Promise<SourceBatch<Item>> {
    const end = this.end(partition);
    let offset = typeof cursor === 'number' ? cursor : ((partition.lower as number | null) ?? 0);
    const items: Item[] = [];
    const malformed: MalformedRecord[] = [];
    while (items.length + malformed.length < limit && offset < end) {
      const lines = await this.linesFrom(offset, end, limit - items.length - malformed.length);
      if (lines.length === 0) break;
      for (const line of lines) {
        offset = line.next;
        if (line.text.trim() === '') continue;
        const parsed = this.parse(line);
        if ('malformed' in parsed) malformed.push(parsed.malformed);
        else if (!this.before(parsed.item, filter)) items.push(parsed.item);
      }
    }
    return { items, malformed, cursor: offset, done: offset >= end };
  }

  async count({ partition, cursor }: { partition: PartitionSpec; cursor: Cursor }): Promise<number> {
    const end = this.end(partition);
    let offset = typeof cursor === 'number' ? cursor : ((partition.lower as number | null) ?? 0);
    let count = 0;
    for (;;) {
      const lines = await this.linesFrom(offset, end, 10_000);
      if (lines.length === 0) return count;
      for (const line of lines) if (line.text.trim() !== '') count += 1;
      offset = lines[lines.length - 1]!.next;
    }
  }

  async refetch(requests: readonly ReplayRequest[]) {
    const out: Array<{ key: string; item?: Item; error?: MalformedRecord }> = [];
    for (const request of requests) {
      if (typeof request.locator !== 'number') {
        const item = request.payload as Item | undefined;
        out.push(item === undefined ? { key: request.key, error: { key: request.key, errorClass: 'NOT_FOUND', message: 'no stored location', sample: '' } } : { key: request.key, item });
        continue;
      }
      const [line] = await this.linesFrom(request.locator, this.size, 1);
      if (!line) {
        out.push({ key: request.key, error: { key: request.key, errorClass: 'NOT_FOUND', message: `no line at byte ${request.locator}`, sample: '' } });
        continue;
      }
      const parsed = this.parse(line);
      out.push('malformed' in parsed ? { key: request.key, error: parsed.malformed } : { key: request.key, item: parsed.item });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  private end(partition: PartitionSpec): number {
    return typeof partition.upper === 'number' ? partition.upper : this.size;
  }

  private parse(line: Line): { item: Item } | { malformed: MalformedRecord } {
    const text = line.text.endsWith('\r') ? line.text.slice(0, -1) : line.text;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { malformed: this.malformed(line, 'PARSE_ERROR', (error as Error).message, text) };
    }
    if (!this.options.parse) return { item: value as Item };
    try {
      return { item: this.options.parse(value, text) };
    } catch (error) {
      const errorClass = error instanceof SyntaxError ? 'PARSE_ERROR' : errorClassOf(error);
      return { malformed: this.malformed(line, errorClass, (error as Error)?.message ?? String(error), text) };
    }
  }

  private malformed(line: Line, errorClass: string, message: string, text: string): MalformedRecord {
    return { key: `offset:${line.offset}`, errorClass, message, sample: text.slice(0, SAMPLE), locator: line.offset };
  }

  private before(item: Item, filter: SourceFilter): boolean {
    if (!filter.since || !this.options.sinceField || !item || typeof item !== 'object') return false;
    const raw = (item as Record<string, unknown>)[this.options.sinceField];
    const time = typeof raw === 'number' ? raw : typeof raw === 'string' ? Date.parse(raw) : NaN;
    return Number.isFinite(time) && time < filter.since.getTime();
  }

  /** Up to `max` whole lines starting at `offset` (a line start) and before `end`, decoded per line. */
  private async linesFrom(offset: number, end: number, max: number): Promise<Array<Line & { next: number }>> {
    const lines: Array<Line & { next: number }> = [];
    let pending: Buffer[] = [];
    let lineStart = offset;
    let position = offset;
    while (lines.length < max && position < end) {
      const length = Math.min(this.chunkSize, end - position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await this.handle.read(buffer, 0, length, position);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      let from = 0;
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, from);
        if (newline === -1) break;
        const piece = chunk.subarray(from, newline);
        const whole = pending.length ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        const next = position + newline + 1;
        lines.push({ offset: lineStart, text: whole.toString('utf8'), next });
        lineStart = next;
        from = newline + 1;
        if (lines.length >= max) return lines;
      }
      if (from < chunk.length) pending.push(Buffer.from(chunk.subarray(from)));
      position += bytesRead;
    }
    // A last line without a newline at the end of the range (end of file).
    if (pending.length && lines.length < max && position >= end) {
      lines.push({ offset: lineStart, text: Buffer.concat(pending).toString('utf8'), next: end });
    }
    return lines;
  }

  private async lineStartAtOrAfter(offset: number): Promise<number> {
    if (offset <= 0) return 0;
    const buffer = Buffer.allocUnsafe(this.chunkSize);
    let position = offset - 1;
    while (position < this.size) {
      const { bytesRead } = await this.handle.read(buffer, 0, this.chunkSize, position);
      if (bytesRead === 0) break;
      const newline = buffer.subarray(0, bytesRead).indexOf(NEWLINE);
      if (newline !== -1) return position + newline + 1;
      position += bytesRead;
    }
    return this.size;
  }
}

