import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createSluice, defineBackfill, iterable, PermanentError } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { tempDir } from '../helpers/temp.js';

function numbers(count: number) {
  return iterable<number>({
    from: function* (cursor) {
      for (let n = typeof cursor === 'number' ? cursor + 1 : 1; n <= count; n++) yield n;
    },
    cursorOf: (n) => n,
  });
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

describe('OpenTelemetry spans', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const exporter = new InMemorySpanExporter();
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // Without an SDK, Sluice's spans record nothing.
    assert.equal(trace.getTracer('probe').startSpan('probe').isRecording(), false);
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  after(async () => {
    trace.disable();
    context.disable();
    await cleanup();
  });

  it('a run is a sluice.run span with a sluice.batch span per batch under it; process runs inside its batch span', async () => {
    exporter.reset();
    const store = await openSqliteStore(join(dir, 'spans.db'));
    let flaky = true;
    const def = defineBackfill<number>({
      name: 'traced',
      source: numbers(30),
      key: (n) => n,
      batchSize: 10,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      process(batch) {
        trace.getTracer('host').startSpan('host.write').end();
        if (batch.includes(15)) {
          if (batch.length === 1) throw new PermanentError('item 15 is malformed');
          throw new Error('one of these is malformed');
        }
        if (batch[0] === 21 && flaky) {
          flaky = false;
          throw new Error('timeout');
        }
      },
    });
    const sluice = createSluice({ store, backfills: [def], worker: { id: 'worker-t', host: 'test', pid: 1 } });
    const outcome = await (await sluice.start('traced')).done;
    assert.equal(outcome.state, 'succeeded');
    await store.close();

    const spans = exporter.getFinishedSpans();
    const runs = spans.filter((s) => s.name === 'sluice.run');
    assert.equal(runs.length, 1);
    const run = runs[0]!;
    assert.equal(parentOf(run), undefined, 'the run span is a root here');
    assert.equal(run.instrumentationScope.name, 'sluice');
    assert.equal(
      run.instrumentationScope.version,
      (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version,
    );
    assert.deepEqual(run.attributes, {
      'sluice.backfill': 'traced',
      'sluice.run.id': outcome.runId,
      'sluice.worker': 'worker-t',
      'sluice.dry_run': false,
      'sluice.resumed': false,
      'sluice.run.state': 'succeeded',
      'sluice.batches': 3,
      'sluice.items.processed': 29,
    });
    assert.equal(run.status.code, SpanStatusCode.UNSET);

    const batches = spans.filter((s) => s.name === 'sluice.batch');
    assert.deepEqual(batches.map(parentOf), [idOf(run), idOf(run), idOf(run)], 'every batch span is a child of the run span');
    assert.ok(batches.every((b) => b.spanContext().traceId === run.spanContext().traceId));
    const common = {
      'sluice.backfill': 'traced',
      'sluice.run.id': outcome.runId,
      'sluice.partition': 0,
      'sluice.batch.items': 10,
      'sluice.batch.outcome': 'committed',
      'sluice.items.skipped': 0,
    };
    assert.deepEqual(
      batches.map((b) => b.attributes),
      [
        {
          ...common,
          'sluice.batch': 1,
          'sluice.batch.attempt': 1,
          'sluice.items.processed': 10,
          'sluice.items.failed': 0,
          'sluice.items.quarantined': 0,
        },
        // Two attempts, then bisection (attempt 3) isolates item 15.
        {
          ...common,
          'sluice.batch': 2,
          'sluice.batch.attempt': 3,
          'sluice.items.processed': 9,
          'sluice.items.failed': 1,
          'sluice.items.quarantined': 1,
        },
        {
          ...common,
          'sluice.batch': 3,
          'sluice.batch.attempt': 2,
          'sluice.items.processed': 10,
          'sluice.items.failed': 0,
          'sluice.items.quarantined': 0,
        },
      ],
    );
    assert.deepEqual(
      batches.map((b) => b.events.map((e) => e.name)),
      [[], ['retry'], ['retry']],
    );
    assert.equal(batches[2]!.events[0]!.attributes?.['error.type'], 'Error');

    // The host's own spans inside process nest under the batch that called it.
    const host = spans.filter((s) => s.name === 'host.write');
    const batchIds = new Set(batches.map(idOf));
    assert.ok(host.length >= 4);
    assert.ok(
      host.every((s) => batchIds.has(parentOf(s)!)),
      'host spans are children of batch spans',
    );
  });

  it('a batch that fails records its error on its span, and the failed run is marked ERROR', async () => {
    exporter.reset();
    const store = await openSqliteStore(join(dir, 'errors.db'));
    const def = defineBackfill<number>({
      name: 'broken-key',
      source: numbers(20),
      // A key function that breaks on one item: the batch cannot be recorded, the partition fails.
      key: (n) => (n === 15 ? '' : n),
      batchSize: 10,
      process() {},
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('broken-key')).done;
    assert.equal(outcome.state, 'failed');
    await store.close();

    const spans = exporter.getFinishedSpans();
    const run = spans.find((s) => s.name === 'sluice.run')!;
    assert.equal(run.status.code, SpanStatusCode.ERROR);
    assert.match(run.status.message ?? '', /key\(item\) must return a non-empty string/);
    const batches = spans.filter((s) => s.name === 'sluice.batch');
    assert.deepEqual(
      batches.map((b) => [b.attributes['sluice.batch'], b.attributes['sluice.batch.outcome'], b.status.code]),
      [
        [1, 'committed', SpanStatusCode.UNSET],
        [2, 'failed', SpanStatusCode.ERROR],
      ],
    );
    assert.deepEqual(
      batches[1]!.events.map((e) => [e.name, e.attributes?.['exception.type']]),
      [['exception', 'TypeError']],
    );
  });
});
