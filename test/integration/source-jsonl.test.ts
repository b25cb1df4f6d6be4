import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Cursor } from '../../src/core/cursor.js';
import { PermanentError } from '../../src/core/errors.js';
import type { MalformedRecord, PartitionSpec, SourceReader } from '../../src/core/source.js';
import { jsonl } from '../../src/sources/jsonl.js';
import { tempDir } from '../helpers/temp.js';

async function readAll<T>(reader: SourceReader<T>, partition: PartitionSpec, limit: number, since?: Date) {
  const items: T[] = [];
  const malformed: MalformedRecord[] = [];
  let cursor: Cursor = null;
  for (;;) {
    const batch = await reader.read({ partition, cursor, limit, filter: { since } });
    items.push(...batch.items);
    malformed.push(...batch.malformed);
    cursor = batch.cursor;
    if (batch.done) return { items, malformed, cursor };
  }
}

const whole = { lower: null, upper: null };

describe('jsonl', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('handles CRLF, blank lines, a last line without newline and UTF-8 split across chunks', async () => {
    const path = join(dir, 'mixed.jsonl');
    writeFileSync(path, '{"id":1,"s":"héllo"}\r\n\r\n{"id":2,"s":"日本語テキスト"}\n{"id":3,"s":"😀 emoji"}');
    for (const chunkSize of [3, 7, 64 * 1024]) {
      const reader = await jsonl<{ id: number; s: string }>({ path, chunkSize }).open({});
      const { items, malformed } = await readAll(reader, whole, 2);
      assert.deepEqual(items.map((i) => i.s), ['héllo', '日本語テキスト', '😀 emoji'], `chunk ${chunkSize}`);
      assert.equal(malformed.length, 0);
      await reader.close();
    }
  });

  it('quarantines malformed lines with their byte offset and goes on', async () => {
    const path = join(dir, 'bad.jsonl');
    const lines = ['{"id":1}', 'not json', '{"id":3}', '{"id":4}'];
    writeFileSync(path, `${lines.join('\n')}\n`);
    const reader = await jsonl<{ id: number }>({
      path,
      parse: (value) => {
        if ((value as { id: number }).id === 4) throw new PermanentError('id 4 is banned', 'BANNED');
        return value as { id: number };
      },
    }).open({});
    const { items, malformed } = await readAll(reader, whole, 10);
    assert.deepEqual(items.map((i) => i.id), [1, 3]);
    assert.deepEqual(malformed.map((m) => [m.key, m.errorClass, m.sample]), [
      ['offset:9', 'PARSE_ERROR', 'not json'],
      ['offset:27', 'BANNED', '{"id":4}'],
    ]);
    const refetched = await reader.refetch!([{ key: 'offset:9', payload: 'not json', locator: 9 }]);
    assert.equal(refetched[0]!.error?.errorClass, 'PARSE_ERROR');
    await reader.close();
  });

  it('resumes at a byte offset and splits into line-aligned byte ranges that cover each line once', async () => {
    const path = join(dir, 'many.jsonl');
    writeFileSync(path, Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: i, pad: 'x'.repeat(i % 37) })).join('\n') + '\n');
    const reader = await jsonl<{ id: number }>({ path, chunkSize: 1000 }).open({});
    const first = await reader.read({ partition: whole, cursor: null, limit: 10, filter: {} });
    const rest = await reader.read({ partition: whole, cursor: first.cursor, limit: 5, filter: {} });
    assert.deepEqual(rest.items.map((i) => i.id), [10, 11, 12, 13, 14]);
    for (const n of [1, 3, 8]) {
      const partitions = await reader.plan({ partitions: n, filter: {} });
      const ids: number[] = [];
      for (const p of partitions) ids.push(...(await readAll(reader, p, 333)).items.map((i) => i.id));
      assert.deepEqual(ids, Array.from({ length: 5000 }, (_, i) => i), `${n} partitions`);
      const counts = await Promise.all(partitions.map((p) => reader.count!({ partition: p, cursor: null, filter: {} })));
      assert.equal(counts.reduce((a, b) => a + b, 0), 5000);
    }
    await reader.close();
  });

  it('filters on a since field and fails clearly for a missing file', async () => {
    const path = join(dir, 'times.jsonl');
    writeFileSync(path, ['{"id":1,"ts":"2026-01-01T00:00:00Z"}', '{"id":2,"ts":"2026-03-01T00:00:00Z"}', '{"id":3,"ts":1798761600000}'].join('\n'));
    const reader = await jsonl<{ id: number }>({ path, sinceField: 'ts' }).open({});
    const { items } = await readAll(reader, whole, 10, new Date('2026-02-01T00:00:00Z'));
    assert.deepEqual(items.map((i) => i.id), [2, 3]);
    await reader.close();
    await assert.rejects(jsonl({ path: join(dir, 'missing.jsonl') }).open({}), /cannot read JSON-lines file .*missing\.jsonl/);
  });
});
