import assert from 'node:assert/strict';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Cursor } from '../../src/core/cursor.js';
import { PermanentError, SourceError } from '../../src/core/errors.js';
import type { MalformedRecord, PartitionSpec, SourceReader } from '../../src/core/source.js';
import { jsonl, type JsonlOptions } from '../../src/sources/jsonl.js';
import { tempDir } from '../helpers/temp.js';
import { inTimeZone } from '../helpers/time-zone.js';

async function readAll<T>(
  reader: SourceReader<T>,
  partition: PartitionSpec,
  limit: number,
  options: { since?: Date; cursor?: Cursor } = {},
) {
  const items: T[] = [];
  const malformed: MalformedRecord[] = [];
  let cursor: Cursor = options.cursor ?? null;
  const cursors: Cursor[] = [];
  for (;;) {
    const batch = await reader.read({ partition, cursor, limit, filter: { since: options.since } });
    assert.ok(batch.items.length + batch.malformed.length <= limit, 'malformed lines count toward the limit');
    items.push(...batch.items);
    malformed.push(...batch.malformed);
    cursor = batch.cursor;
    cursors.push(cursor);
    if (batch.done) return { items, malformed, cursor, cursors };
  }
}

const whole = { lower: null, upper: null };
type Rec = { id: number; s?: string };

describe('jsonl', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let files = 0;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  const file = (content: string | Buffer) => {
    const path = join(dir, `f${++files}.jsonl`);
    writeFileSync(path, content);
    return path;
  };
  const open = <T = Rec>(options: JsonlOptions<T>) => jsonl<T>(options).open({});

  it('handles CRLF, blank lines, a last line without newline and UTF-8 split at every chunk boundary', async () => {
    const content =
      '{"id":1,"s":"héllo"}\r\n\r\n   \t\r\n{"id":2,"s":"日本語テキスト"}\n\n{"id":3,"s":"😀 emoji ✓"}\r\n{"id":4,"s":"last, no newline: ß"}';
    const path = file(content);
    for (const chunkSize of [1, 2, 3, 4, 5, 6, 7, 11, 64 * 1024]) {
      const reader = await open({ path, chunkSize });
      const { items, malformed, cursor } = await readAll(reader, whole, 2);
      assert.deepEqual(
        items.map((i) => i.s),
        ['héllo', '日本語テキスト', '😀 emoji ✓', 'last, no newline: ß'],
        `chunk ${chunkSize}`,
      );
      assert.deepEqual(malformed, []);
      assert.equal(cursor, Buffer.byteLength(content));
      assert.equal(await reader.count!({ partition: whole, cursor: null, filter: {} }), 4, 'blank lines count for nothing');
      await reader.close();
    }
  });

  it('skips a UTF-8 byte order mark', async () => {
    const path = file(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"id":1}\n{"id":2}\n')]));
    const reader = await open({ path, chunkSize: 2 });
    const { items, malformed } = await readAll(reader, whole, 10);
    assert.deepEqual([items.map((i) => i.id), malformed], [[1, 2], []]);
    const resumed = await reader.read({ partition: whole, cursor: 0, limit: 1, filter: {} });
    assert.deepEqual([resumed.items, resumed.cursor], [[{ id: 1 }], 12]);
    await reader.close();
  });

  it('quarantines malformed lines with their byte offset, counts them toward the limit, and goes on', async () => {
    const lines = ['{"id":1}', 'not json', '{"id":3}', '{"id":4}', '{"id":', '{"id":6}'];
    const path = file(`${lines.join('\r\n')}\r\n`);
    const offsetOf = (i: number) => lines.slice(0, i).reduce((n, l) => n + Buffer.byteLength(l) + 2, 0);
    const reader = await open<Rec>({
      path,
      chunkSize: 5,
      parse: (value) => {
        if ((value as Rec).id === 4) throw new PermanentError('id 4 is banned', 'BANNED');
        return value as Rec;
      },
    });
    const first = await reader.read({ partition: whole, cursor: null, limit: 2, filter: {} });
    assert.deepEqual([first.items, first.malformed.length, first.cursor, first.done], [[{ id: 1 }], 1, offsetOf(2), false]);
    const { items, malformed } = await readAll(reader, whole, 2);
    assert.deepEqual(
      items.map((i) => i.id),
      [1, 3, 6],
    );
    assert.deepEqual(
      malformed.map((m) => [m.key, m.errorClass, m.sample, m.locator]),
      [
        [`offset:${offsetOf(1)}`, 'PARSE_ERROR', 'not json', offsetOf(1)],
        [`offset:${offsetOf(3)}`, 'BANNED', '{"id":4}', offsetOf(3)],
        [`offset:${offsetOf(4)}`, 'PARSE_ERROR', '{"id":', offsetOf(4)],
      ],
    );
    assert.match(malformed[0]!.message, /JSON/);
    assert.equal(malformed[1]!.message, 'id 4 is banned');
    const refetched = await reader.refetch!(malformed.map((m) => ({ key: m.key, payload: m.sample, locator: m.locator })));
    assert.deepEqual(
      refetched.map((r) => r.error?.errorClass),
      ['PARSE_ERROR', 'BANNED', 'PARSE_ERROR'],
    );
    await reader.close();
  });

  it('classes errors thrown by parse() with errorClassOf, and keeps samples to 500 characters', async () => {
    const long = `{"id":1,"text":"${'é'.repeat(600)}"`;
    const path = file(`${long}\n{"id":2}\n{"id":3}\n`);
    const reader = await open<Rec>({
      path,
      parse: (value) => {
        const id = (value as Rec).id;
        if (id === 2) throw Object.assign(new Error('schema mismatch'), { code: 'SCHEMA' });
        if (id === 3) throw new RangeError('out of range');
        return value as Rec;
      },
    });
    const { items, malformed } = await readAll(reader, whole, 10);
    assert.deepEqual(items, []);
    assert.deepEqual(
      malformed.map((m) => m.errorClass),
      ['PARSE_ERROR', 'SCHEMA', 'RangeError'],
    );
    assert.equal(malformed[0]!.sample, long.slice(0, 500));
    await reader.close();
  });

  it('refetches a quarantined line at its offset, parsed afresh after the file was fixed', async () => {
    const path = file('{"id":1}\n{"id":2,oops}\n{"id":3}\n');
    const reader = await open({ path });
    const { malformed } = await readAll(reader, whole, 10);
    await reader.close();
    assert.deepEqual(
      malformed.map((m) => m.locator),
      [9],
    );
    writeFileSync(path, '{"id":1}\n{"id":2, "ok":1}\n{"id":3}\n');
    const fixed = await open({ path });
    const result = await fixed.refetch!([
      { key: 'offset:9', payload: '{"id":2,oops}', locator: 9 },
      { key: 'offset:999', payload: 'x', locator: 999 },
      { key: 'user-key-7', payload: { id: 7 } },
    ]);
    assert.deepEqual(result[0], { key: 'offset:9', item: { id: 2, ok: 1 } });
    assert.equal(result[1]!.error?.errorClass, 'NOT_FOUND');
    assert.deepEqual(result[2], { key: 'user-key-7', item: { id: 7 } });
    await fixed.close();
  });

  it('resumes at the byte offset after the last line consumed, also in a new reader', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, s: 'ü'.repeat(i % 5) }));
    const content = `${lines.join('\n')}\n`;
    const path = file(content);
    const reader = await open({ path, chunkSize: 16 });
    const first = await reader.read({ partition: whole, cursor: null, limit: 10, filter: {} });
    assert.equal(first.cursor, Buffer.byteLength(`${lines.slice(0, 10).join('\n')}\n`));
    await reader.close();
    const again = await open({ path, chunkSize: 16 });
    const rest = await readAll(again, whole, 7, { cursor: first.cursor });
    assert.deepEqual(
      [...first.items, ...rest.items].map((i) => i.id),
      lines.map((_, i) => i),
    );
    assert.equal(rest.cursor, Buffer.byteLength(content));
    assert.equal(await again.count!({ partition: whole, cursor: first.cursor, filter: {} }), 40);
    await assert.rejects(again.read({ partition: whole, cursor: 'abc', limit: 1, filter: {} }), SourceError);
    await again.close();
  });

  it('splits into line-aligned byte ranges that cover every line exactly once', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: i, pad: 'x'.repeat(i % 37), u: '€'.repeat(i % 3) }));
    const path = file(`${lines.join('\n')}\n`);
    for (const chunkSize of [7, 1000, 64 * 1024]) {
      const reader = await open({ path, chunkSize });
      for (const n of [1, 3, 8]) {
        const partitions = await reader.plan({ partitions: n, filter: {} });
        assert.equal(partitions.length, n);
        assert.equal(partitions[0]!.lower, 0);
        assert.equal(partitions[n - 1]!.upper, null);
        for (let i = 1; i < n; i++) assert.equal(partitions[i]!.lower, partitions[i - 1]!.upper);
        const ids: number[] = [];
        for (const p of partitions) ids.push(...(await readAll(reader, p, 333)).items.map((i) => i.id));
        assert.deepEqual(
          ids,
          lines.map((_, i) => i),
          `${n} partitions, chunk ${chunkSize}`,
        );
        const counts = await Promise.all(partitions.map((p) => reader.count!({ partition: p, cursor: null, filter: {} })));
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          5000,
        );
      }
      await reader.close();
    }
  });

  it('plans fewer ranges than asked for a file with fewer lines, and one for an empty file', async () => {
    const reader = await open({ path: file('{"id":1}\n{"id":2}\n{"id":3}'), chunkSize: 4 });
    const partitions = await reader.plan({ partitions: 10, filter: {} });
    assert.deepEqual(
      partitions.map((p) => [p.lower, p.upper, p.label]),
      [
        [0, 9, 'bytes 0..9'],
        [9, 18, 'bytes 9..18'],
        [18, null, 'bytes 18..26'],
      ],
    );
    const ids: number[] = [];
    for (const p of partitions) ids.push(...(await readAll(reader, p, 5)).items.map((i) => i.id));
    assert.deepEqual(ids, [1, 2, 3]);
    await reader.close();
    const empty = await open({ path: file('') });
    assert.deepEqual(await empty.plan({ partitions: 4, filter: {} }), [{ lower: 0, upper: null, label: 'bytes 0..0' }]);
    assert.deepEqual(await empty.read({ partition: whole, cursor: null, limit: 10, filter: {} }), {
      items: [],
      malformed: [],
      cursor: 0,
      done: true,
    });
    assert.equal(await empty.count!({ partition: whole, cursor: null, filter: {} }), 0);
    await empty.close();
  });

  it('splits what is left of a range at its middle line', async () => {
    const lines = Array.from({ length: 101 }, (_, i) => JSON.stringify({ id: i }));
    const path = file(`${lines.join('\n\n')}\n`);
    const reader = await open({ path, chunkSize: 9 });
    const first = await reader.read({ partition: whole, cursor: null, limit: 1, filter: {} });
    const at = await reader.split!({ partition: whole, cursor: first.cursor, filter: {}, minItems: 20 });
    assert.equal(typeof at, 'number');
    const left = await readAll(reader, { lower: 0, upper: at }, 7, { cursor: first.cursor });
    const right = await readAll(reader, { lower: at, upper: null }, 7);
    assert.deepEqual([left.items.length, right.items.length], [50, 50]);
    assert.deepEqual(
      [...first.items, ...left.items, ...right.items].map((i) => i.id),
      lines.map((_, i) => i),
    );
    assert.equal(await reader.split!({ partition: whole, cursor: first.cursor, filter: {}, minItems: 51 }), null);
    await reader.close();
  });

  it('reads an item time without a zone as UTC, like --since, in any time zone of the process', async () => {
    const path = file(
      ['{"id":1,"ts":"2026-01-31T23:30:00"}', '{"id":2,"ts":"2026-02-01 00:30"}', '{"id":3,"ts":"2026-02-01T01:00:00+02:00"}'].join('\n'),
    );
    const reader = await open({ path, sinceField: 'ts' });
    const since = new Date('2026-02-01T00:00:00Z');
    for (const zone of ['Pacific/Kiritimati', 'America/Adak']) {
      const { items } = await inTimeZone(zone, () => readAll(reader, whole, 10, { since }));
      assert.deepEqual(
        items.map((i) => i.id),
        [2],
        zone,
      );
    }
    await reader.close();
  });

  it('skips items before since (the cursor still moves past them)', async () => {
    const path = file(
      [
        '{"id":1,"ts":"2026-01-01T00:00:00Z"}',
        '{"id":2,"ts":"2026-03-01T00:00:00Z"}',
        '{"id":3,"ts":1798761600000}',
        '{"id":4}',
        '{"id":5,"ts":"2025-12-01"}',
      ].join('\n'),
    );
    const reader = await open({ path, sinceField: 'ts' });
    const since = new Date('2026-02-01T00:00:00Z');
    const { items } = await readAll(reader, whole, 10, { since });
    assert.deepEqual(
      items.map((i) => i.id),
      [2, 3, 4],
      'an item without a date is kept',
    );
    const first = await reader.read({ partition: whole, cursor: null, limit: 1, filter: { since } });
    assert.deepEqual([first.items.map((i) => i.id), first.cursor], [[2], 74]);
    const last = await reader.read({ partition: whole, cursor: 102, limit: 1, filter: { since } });
    assert.deepEqual([last.items, last.done], [[{ id: 4 }], false]);
    const end = await reader.read({ partition: whole, cursor: last.cursor, limit: 1, filter: { since } });
    assert.deepEqual([end.items, end.done], [[], true]);
    assert.equal((await readAll(reader, whole, 10)).items.length, 5, 'no since: everything');
    await reader.close();
  });

  it('fails clearly for a missing file, a directory, and a file that shrinks while read', async () => {
    const missing = join(dir, 'missing.jsonl');
    await assert.rejects(
      jsonl({ path: missing }).open({}),
      (e: unknown) => e instanceof SourceError && e.message.startsWith(`cannot read JSON-lines file ${missing}: ENOENT`),
    );
    const folder = join(dir, 'folder.jsonl');
    mkdirSync(folder);
    await assert.rejects(jsonl({ path: folder }).open({}), {
      name: 'SourceError',
      message: `cannot read JSON-lines file ${folder}: it is not a regular file`,
    });
    assert.throws(() => jsonl({ path: 'x.jsonl', chunkSize: 0 }), SourceError);
    const path = file('{"id":1}\n{"id":2}\n{"id":3}\n');
    const reader = await open({ path });
    truncateSync(path, 12);
    await assert.rejects(reader.read({ partition: whole, cursor: null, limit: 10, filter: {} }), {
      name: 'SourceError',
      message: /shrank while being read/,
    });
    await reader.close();
  });
});
