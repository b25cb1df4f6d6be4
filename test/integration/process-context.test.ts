import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSluice, defineBackfill, iterable, type Logger, type ProcessContext } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { tempDir, waitFor } from '../helpers/temp.js';

/** Items 1..count, resumable after any of them. */
function numbers(count: number) {
  return iterable<number>({
    from: function* (cursor) {
      for (let n = typeof cursor === 'number' ? cursor + 1 : 1; n <= count; n++) yield n;
    },
    cursorOf: (n) => n,
    count: () => count,
  });
}

/** Resolves when `signal` aborts, or after `boundMs` (so that a signal that never fires fails the test instead of hanging it). */
function abortedOrLate(signal: AbortSignal, boundMs: number): Promise<'aborted' | 'late'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('late'), boundMs);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve('aborted');
      },
      { once: true },
    );
  });
}

describe("ctx.signal is the batch's own", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('10,000 batches whose process adds an abort listener (as fetch does): no listener outlives its batch, no MaxListenersExceededWarning', async () => {
    const store = await openSqliteStore(join(dir, 'listeners.db'));
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const signals = new Set<AbortSignal>();
    let mostListenersSeen = 0;
    try {
      const def = defineBackfill<number>({
        name: 'listeners',
        source: numbers(10_000),
        key: (n) => n,
        batchSize: 1,
        dedup: false,
        process(_batch, ctx) {
          signals.add(ctx.signal);
          mostListenersSeen = Math.max(mostListenersSeen, getEventListeners(ctx.signal, 'abort').length);
          // Never removed, as a request that keeps its signal would: only the batch's end may drop it.
          ctx.signal.addEventListener('abort', () => undefined);
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('listeners')).done;
      assert.equal(outcome.state, 'succeeded');
      assert.equal(outcome.counts.processed, 10_000);
      // Warnings are emitted on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
      await store.close();
    }
    assert.equal(signals.size, 10_000, 'a new signal for every batch');
    assert.equal(mostListenersSeen, 0, 'no batch sees the listeners of another');
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  });

  for (const delivery of ['transactional', 'at-least-once', 'idempotent'] as const) {
    it(`a pause during a long batch (${delivery}) aborts ctx.signal; the batch is neither quarantined nor committed, and a resume finishes the run exactly once`, async () => {
      const store = await openSqliteStore(join(dir, `pause-${delivery}.db`));
      const delivered = new Map<number, number>();
      let longBatch: ProcessContext | undefined;
      let sawAbort: 'aborted' | 'late' | undefined;
      const def = defineBackfill<number>({
        name: `pausable-${delivery}`,
        source: numbers(1000),
        key: (n) => n,
        delivery,
        batchSize: 100,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
        async process(batch, ctx) {
          if (batch[0] === 301 && !longBatch) {
            longBatch = ctx;
            sawAbort = await abortedOrLate(ctx.signal, 10_000);
            // A process that honours the signal fails with it, as fetch does.
            ctx.signal.throwIfAborted();
          }
          for (const n of batch) delivered.set(n, (delivered.get(n) ?? 0) + 1);
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const handle = await sluice.start(def.name);
      await waitFor(() => longBatch, 'the long batch to start');
      await sluice.pause(handle.runId, 'alice', 'maintenance window');
      const first = await handle.done;
      assert.equal(sawAbort, 'aborted', "the pause fired the batch's signal");
      assert.equal((longBatch!.signal.reason as Error).name, 'BatchAbortedError');
      assert.match((longBatch!.signal.reason as Error).message, /aborted \(run paused by alice: maintenance window\)/);
      assert.equal(first.state, 'paused');
      assert.equal(first.counts.processed, 300, 'the aborted batch committed nothing');
      assert.equal(first.counts.quarantined, 0);
      assert.equal(first.counts.failed, 0);
      assert.deepEqual(await store.listQuarantine({ runId: first.runId }), []);
      const second = await (await sluice.resume(first.runId)).done;
      assert.equal(second.state, 'succeeded');
      assert.equal(second.counts.processed, 1000);
      assert.equal(second.counts.quarantined, 0);
      assert.ok(
        [...Array(1000).keys()].every((i) => delivered.get(i + 1) === 1),
        'every item delivered exactly once',
      );
      await store.close();
    });
  }

  it('a pause asked in another process reaches a long batch through the heartbeat, before the batch ends', async () => {
    const store = await openSqliteStore(join(dir, 'pause-elsewhere.db'));
    let longBatch: ProcessContext | undefined;
    let sawAbort: 'aborted' | 'late' | undefined;
    const def = defineBackfill<number>({
      name: 'paused-elsewhere',
      source: numbers(300),
      key: (n) => n,
      batchSize: 100,
      async process(batch, ctx) {
        if (batch[0] === 101 && !longBatch) {
          longBatch = ctx;
          sawAbort = await abortedOrLate(ctx.signal, 10_000);
          ctx.signal.throwIfAborted();
        }
      },
    });
    const worker = createSluice({ store, backfills: [def], leaseMs: 600, worker: { id: 'worker-a', host: 'test', pid: 1 } });
    // Another process: its pause is written to the store as a request for the worker holding the run.
    const operator = createSluice({ store, backfills: [def], worker: { id: 'operator', host: 'test', pid: 2 } });
    const handle = await worker.start(def.name);
    await waitFor(() => longBatch, 'the long batch to start');
    await operator.pause(handle.runId, 'bob', 'from the CLI');
    const first = await handle.done;
    assert.equal(sawAbort, 'aborted');
    assert.match((longBatch!.signal.reason as Error).message, /aborted \(run paused by bob: from the CLI\)/);
    assert.equal(first.state, 'paused');
    assert.equal(first.counts.processed, 100);
    assert.equal(first.counts.quarantined, 0);
    const second = await (await worker.resume(first.runId)).done;
    assert.deepEqual([second.state, second.counts.processed], ['succeeded', 300]);
    await store.close();
  });

  it('a lane that loses its lease sees its signal aborted; the batch is not committed and the run finishes exactly once', async () => {
    const path = join(dir, 'lease.db');
    const store = await openSqliteStore(path);
    const delivered = new Map<number, number>();
    let fenced: ProcessContext | undefined;
    let sawAbort: 'aborted' | 'late' | undefined;
    const def = defineBackfill<number>({
      name: 'fenced',
      source: numbers(300),
      key: (n) => n,
      batchSize: 100,
      async process(batch, ctx) {
        if (batch[0] === 101 && !fenced) {
          fenced = ctx;
          // Another worker takes the partition over (a new fence), as after a pause of this process.
          const db = new Database(path);
          db.prepare(
            `UPDATE sluice_partitions SET fence = fence + 1, lease_owner = 'thief', lease_expires_at = ? WHERE run_id = ? AND idx = ?`,
          ).run(Date.now() + 300, ctx.run.id, ctx.partition);
          db.close();
          sawAbort = await abortedOrLate(ctx.signal, 10_000);
          ctx.signal.throwIfAborted();
        }
        for (const n of batch) delivered.set(n, (delivered.get(n) ?? 0) + 1);
      },
    });
    const sluice = createSluice({ store, backfills: [def], leaseMs: 600 });
    const outcome = await (await sluice.start(def.name)).done;
    assert.equal(sawAbort, 'aborted', 'the heartbeat that found the lease gone fired the signal');
    assert.equal((fenced!.signal.reason as Error).name, 'LeaseLostError');
    // The thief's lease expired unused: this process took the partition back and finished it.
    assert.equal(outcome.state, 'succeeded');
    assert.equal(outcome.counts.processed, 300);
    assert.equal(outcome.counts.quarantined, 0);
    assert.ok(
      [...Array(300).keys()].every((i) => delivered.get(i + 1) === 1),
      'every item delivered exactly once',
    );
    await store.close();
  });
});

describe('ctx.logger', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  interface LogRecord {
    level: string;
    fields: Record<string, unknown>;
    message: string;
  }

  /** A logger without `child`: Sluice binds the batch's fields itself. */
  function capturing(records: LogRecord[]): Logger {
    const at = (level: string) => (fields: object, message: string) => void records.push({ level, fields: { ...fields }, message });
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  }

  /** A logger with `child` (as pino has): Sluice uses it, so the host's own bindings and formatting stay. */
  function withChild(records: LogRecord[], bindings: Record<string, unknown> = { service: 'billing' }): Logger {
    const at = (level: string) => (fields: object, message: string) =>
      void records.push({ level, fields: { ...bindings, ...fields }, message });
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => withChild(records, { ...bindings, ...more }),
    };
  }

  for (const kind of ['without child', 'with child'] as const) {
    it(`is the host's logger bound to the run, partition, batch and attempt (${kind})`, async () => {
      const store = await openSqliteStore(join(dir, `logger-${kind.replace(' ', '-')}.db`));
      const records: LogRecord[] = [];
      let failedOnce = false;
      const def = defineBackfill<number>({
        name: 'logged',
        source: numbers(30),
        key: (n) => n,
        batchSize: 10,
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
        process(batch, ctx) {
          ctx.logger.info({ first: batch[0] }, 'scoring');
          if (batch[0] === 11 && !failedOnce) {
            failedOnce = true;
            throw new Error('flaky');
          }
        },
      });
      const sluice = createSluice({ store, backfills: [def], logger: kind === 'with child' ? withChild(records) : capturing(records) });
      const outcome = await (await sluice.start('logged')).done;
      assert.equal(outcome.state, 'succeeded');
      const scoring = records.filter((r) => r.message === 'scoring');
      const expected = (first: number, batch: number, attempt: number) => ({
        ...(kind === 'with child' ? { service: 'billing' } : {}),
        runId: outcome.runId,
        backfill: 'logged',
        partition: 0,
        batch,
        attempt,
        first,
      });
      assert.deepEqual(
        scoring.map((r) => r.fields),
        [expected(1, 1, 1), expected(11, 2, 1), expected(11, 2, 2), expected(21, 3, 1)],
      );
      assert.ok(scoring.every((r) => r.level === 'info'));
      await store.close();
    });
  }
});
