import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { BATCHES_IN_FLIGHT_PER_LANE } from '../../src/core/commit-window.js';
import { createSluice, defineBackfill, httpRateLimit, iterable, type ProcessContext, sqlKeyset } from '../../src/index.js';
import type { Store, StoreTransaction } from '../../src/core/store.js';
import { openSqliteStore, type SqliteStore } from '../../src/sqlite.js';
import { sqliteOrders } from '../helpers/crash.js';
import { tempDir, waitFor } from '../helpers/temp.js';

/**
 * A provider's API on loopback: POST /items/<key> answers, per key, the next status of its script
 * (then 200), with `Retry-After` on a 429; every request is recorded with its time.
 */
class Receiver {
  readonly requests: Array<{ key: string; at: number; status: number; idempotencyKey: string }> = [];
  private readonly scripts = new Map<string, number[]>();
  private server!: Server;
  url = '';
  /** Seconds a 429 tells the client to wait. */
  retryAfterS = 1;
  /** A status of 0 in a script: the request is held unanswered (the client dies waiting); this hears of it. */
  onHeld: ((key: string) => void) | undefined;

  script(key: string, statuses: number[]): void {
    this.scripts.set(key, [...statuses]);
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const key = decodeURIComponent(request.url!.replace(/^\/items\//, ''));
      const status = this.scripts.get(key)?.shift() ?? 200;
      this.requests.push({ key, at: Date.now(), status, idempotencyKey: String(request.headers['idempotency-key']) });
      if (status === 0) {
        this.onHeld?.(key);
        return;
      }
      if (status === 429) response.setHeader('retry-after', String(this.retryAfterS));
      response.statusCode = status;
      request.resume();
      request.on('end', () => response.end(JSON.stringify({ status })));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  sent(key: string): number {
    return this.requests.filter((r) => r.key === key).length;
  }

  delivered(key: string): number {
    return this.requests.filter((r) => r.key === key && r.status === 200).length;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`the provider answered ${status}`);
    this.name = `HTTP_${status}`;
  }
}

/** What a user writes: send each item, and tell Sluice what became of it. */
async function sendEach(receiver: Receiver, items: Array<{ id: number }>, ctx: ProcessContext): Promise<void> {
  await Promise.all(
    items.map(async (item) => {
      const response = await fetch(`${receiver.url}/items/${item.id}`, {
        method: 'POST',
        body: JSON.stringify(item),
        headers: { 'idempotency-key': ctx.idempotencyKey(item) },
      });
      await response.text();
      if (response.ok) return;
      const retryAfter = response.headers.get('retry-after');
      const error = new HttpError(response.status, retryAfter === null ? undefined : Number(retryAfter) * 1000);
      if (response.status === 429 || response.status >= 500)
        ctx.retryLater(item, { error, ...(error.retryAfterMs !== undefined ? { afterMs: error.retryAfterMs } : {}) });
      else ctx.fail(item, error);
    }),
  );
}

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  await waitUntilValue(async () => check(), what);
}

async function waitUntilValue(check: () => Promise<boolean>, what: string): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** The checkpoints a store writes, in order: where each moved the cursor from and to, and when. */
function recordCheckpoints(store: Store): Array<{ from: unknown; to: unknown; at: number }> {
  const written: Array<{ from: unknown; to: unknown; at: number }> = [];
  interceptCheckpoints(store, async (write, checkpoint) => {
    const seen = await checkpoint(write);
    written.push({ from: write.previousCursor, to: write.cursor, at: Date.now() });
    return seen;
  });
  return written;
}

/** The checkpoints of one lane through items 1..`upTo` in batches of 10, in order: `[from, to]` each. */
function checkpointsOfTen(upTo: number): Array<[number | null, number]> {
  return Array.from({ length: upTo / 10 }, (_, i) => [i === 0 ? null : i * 10, (i + 1) * 10]);
}

type Checkpoint = StoreTransaction['checkpoint'];

/** Puts `through` between the engine and every checkpoint the store writes (it calls `checkpoint` to write it). */
function interceptCheckpoints(
  store: Store,
  through: (write: Parameters<Checkpoint>[0], checkpoint: Checkpoint) => ReturnType<Checkpoint>,
): void {
  const transaction = store.transaction.bind(store);
  store.transaction = (work, options) =>
    transaction((tx) => work({ ...tx, checkpoint: (write) => through(write, tx.checkpoint) }), options);
}

/** Runs `test` against a provider of its own, stopped whatever happens. */
async function withReceiver(test: (receiver: Receiver) => Promise<void>): Promise<void> {
  const receiver = new Receiver();
  await receiver.start();
  try {
    await test(receiver);
  } finally {
    await receiver.stop();
  }
}

const items = (n: number) =>
  iterable({
    from: (after: unknown) => Array.from({ length: Math.max(0, n - Number(after ?? 0)) }, (_, i) => ({ id: Number(after ?? 0) + i + 1 })),
    cursorOf: (i: { id: number }) => i.id,
  });

/** One lane POSTing `n` items to the receiver in batches of 10, each item settled on its own. */
const oneLanePush = (receiver: Receiver, name: string, n: number) =>
  defineBackfill<{ id: number }>({
    name,
    source: items(n),
    key: (i) => i.id,
    batchSize: 10,
    concurrency: 1,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    maxFailureRatio: 1,
    process: (batch, ctx) => sendEach(receiver, batch, ctx),
  });

describe('per-item outcomes against a provider on loopback', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let receiver: Receiver;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    receiver = new Receiver();
    await receiver.start();
  });
  after(async () => {
    await receiver.stop();
    await cleanup();
  });

  it('retries only the items that need it, honours Retry-After, quarantines what failed for good, and a re-trigger sends nothing again', async () => {
    receiver.script('7', [500]);
    receiver.script('13', [429]);
    receiver.script('21', [400]);
    receiver.script('33', [500, 500, 500, 500]);
    const store: SqliteStore = await openSqliteStore(join(dir, 'at-least-once.db'));
    const def = defineBackfill<{ id: number }>({
      name: 'push',
      source: items(60),
      key: (i) => i.id,
      batchSize: 20,
      delivery: 'at-least-once',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      maxFailureRatio: 1,
      process: (batch, ctx) => sendEach(receiver, batch, ctx),
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('push')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    assert.deepEqual([outcome.counts.processed, outcome.counts.quarantined], [58, 2]);

    // One request for every item that never failed: a failing item does not re-send its batch.
    const once = Array.from({ length: 60 }, (_, i) => String(i + 1)).filter((k) => !['7', '13', '21', '33'].includes(k));
    assert.deepEqual(
      once.filter((k) => receiver.sent(k) !== 1),
      [],
      'items sent more than once',
    );
    assert.deepEqual(
      ['7', '13', '21', '33'].map((k) => receiver.sent(k)),
      [2, 2, 1, 3],
      'a 500 and a 429 once: sent again once; a 400: never again; always 500: the 3 attempts',
    );
    assert.equal(receiver.requests.length, 56 + 2 + 2 + 1 + 3);
    assert.deepEqual(
      once.concat('7', '13').filter((k) => receiver.delivered(k) !== 1),
      [],
      'every good item delivered exactly once',
    );
    // The 429 said Retry-After: 1 (second): its retry waited at least that long.
    const [first, retried] = receiver.requests.filter((r) => r.key === '13');
    assert.ok(retried!.at - first!.at >= 1000, `retried after ${retried!.at - first!.at} ms`);

    const quarantine = await sluice.listQuarantine({ runId: outcome.runId });
    assert.deepEqual(quarantine.map((q) => [q.itemKey, q.errorClass, q.attempts]).sort(), [
      ['21', 'HTTP_400', 1],
      ['33', 'HTTP_500', 3],
    ]);
    const report = await sluice.status(outcome.runId);
    assert.ok(report.run.counts.processed === 58);

    // A re-trigger (a new run) sends nothing the ledger holds.
    const before = receiver.requests.length;
    const again = await (await sluice.start('push', { newRun: true })).done;
    assert.equal(again.state, 'succeeded');
    // Only the two never delivered are tried again (33's provider fails it once more: sent twice).
    assert.deepEqual(
      receiver.requests
        .slice(before)
        .map((r) => r.key)
        .sort(),
      ['21', '33', '33'],
    );
    assert.deepEqual([again.counts.processed, again.counts.skipped], [2, 58]);
    await sluice.close();
    await store.close();
  });

  it('a transactional backfill commits the rest of a batch without the failed item, and an item to retry later rolls its batch back to run again', async () => {
    const store: SqliteStore = await openSqliteStore(join(dir, 'transactional.db'));
    await store.transaction((tx) => tx.sql.execute('CREATE TABLE copied (id INTEGER PRIMARY KEY, writes INTEGER NOT NULL)'));
    const calls: number[][] = [];
    let askedToRetry = false;
    const def = defineBackfill<{ id: number }>({
      name: 'copy',
      source: items(30),
      key: (i) => i.id,
      batchSize: 10,
      delivery: 'transactional',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      maxFailureRatio: 1,
      async process(batch, ctx) {
        calls.push(batch.map((i) => i.id));
        for (const item of batch) {
          if (item.id === 4) {
            ctx.fail(item, new HttpError(422, undefined));
            continue;
          }
          if (item.id === 15 && !askedToRetry) {
            askedToRetry = true;
            ctx.retryLater(item, { afterMs: 50 });
            continue;
          }
          await ctx.tx!.execute('INSERT INTO copied (id, writes) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET writes = writes + 1', [
            item.id,
          ]);
        }
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('copy')).done;
    assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
    assert.deepEqual([outcome.counts.processed, outcome.counts.quarantined], [29, 1]);
    const rows = await store.readConnection().query<{ id: number; writes: number }>('SELECT id, writes FROM copied ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r.id),
      Array.from({ length: 30 }, (_, i) => i + 1).filter((id) => id !== 4),
    );
    assert.deepEqual(
      rows.filter((r) => r.writes !== 1),
      [],
      'the rolled-back batch left no write behind: each row written once',
    );
    assert.equal(calls.length, 4, 'three batches, the second one twice');
    assert.deepEqual(calls[1], calls[2], 'the batch with the item to retry ran again whole (its writes had rolled back)');
    const quarantine = await sluice.listQuarantine({ runId: outcome.runId });
    assert.deepEqual(
      quarantine.map((q) => [q.itemKey, q.errorClass]),
      [['4', 'HTTP_422']],
    );
    await sluice.close();
    await store.close();
  });

  it("a run paused while a batch waits to retry an item and the lane's later batches wait behind it (as by a crash) sends only that item again when it resumes", async () => {
    const store: SqliteStore = await openSqliteStore(join(dir, 'stopped.db'));
    const seen: number[] = [];
    const def = defineBackfill<{ id: number }>({
      name: 'wait',
      source: items(30),
      key: (i) => i.id,
      batchSize: 10,
      concurrency: 1,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      maxFailureRatio: 1,
      async process(batch, ctx) {
        seen.push(...batch.map((i) => i.id));
        // Item 5's provider says: come back in a minute.
        for (const item of batch)
          if (item.id === 5 && seen.filter((id) => id === 5).length === 1) ctx.retryLater(item, { afterMs: 60_000 });
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const handle = await sluice.start('wait');
    await waitUntil(() => seen.length === 30, 'the first call of every batch');
    // Nothing is checkpointed while the first batch waits, and the two after it wait for their
    // turn with their items in the ledger; stop them there, as a crash would.
    const recorded = await waitUntilValue(
      async () => (await store.deliveredKeys('wait', ['1', '5', '11', '30'])).size === 3,
      'the delivered items in the ledger',
    );
    assert.ok(recorded);
    handle.stop('test', 'stop while waiting');
    const stopped = await handle.done;
    assert.equal(stopped.state, 'paused');
    assert.equal(stopped.counts.processed, 0, 'no batch checkpointed past the waiting one');
    const resumed = await (await sluice.resume(stopped.runId)).done;
    assert.equal(resumed.state, 'succeeded', resumed.reason ?? '');
    assert.deepEqual(seen.slice(30), [5], 'only the item still to retry was sent again');
    assert.deepEqual([resumed.counts.processed, resumed.counts.skipped], [1, 29], 'the others count as already delivered');
    await sluice.close();
    await store.close();
  });

  it("a batch waiting on a Retry-After does not hold its lane: the lane's next batches are delivered meanwhile, and the checkpoints commit in order behind it", async () => {
    await withReceiver(async (receiver) => {
      // Item 5 (first batch): "come back in 3 s". One lane, six batches of 10.
      receiver.retryAfterS = 3;
      receiver.script('5', [429]);
      const store: SqliteStore = await openSqliteStore(join(dir, 'window.db'));
      const checkpoints = recordCheckpoints(store);
      const def = oneLanePush(receiver, 'window', 60);
      const sluice = createSluice({ store, backfills: [def] });
      const handle = await sluice.start('window');
      // Every later item reaches the provider while item 5 waits: nothing past it is checkpointed,
      // and what was delivered is in the ledger (a crash now would not send it again).
      await waitFor(() => receiver.requests.filter((r) => Number(r.key) > 10).length === 50, 'the later batches delivered');
      const waiting = receiver.requests.filter((r) => r.key === '5');
      assert.equal(waiting.length, 1, 'item 5 not retried yet');
      const stored = await store.listPartitions(handle.runId);
      assert.deepEqual(
        stored.map((p) => [p.cursor, p.counts.processed]),
        [[null, 0]],
        'the cursor does not pass the waiting item',
      );
      await waitFor(async () => (await store.deliveredKeys('window', ['1', '11', '60'])).size === 3, 'the later batches recorded ahead');
      const outcome = await handle.done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.deepEqual([outcome.counts.processed, outcome.counts.skipped], [60, 0]);

      const [first, retried] = receiver.requests.filter((r) => r.key === '5');
      assert.ok(retried!.at - first!.at >= 3000, `item 5 retried after ${retried!.at - first!.at} ms`);
      const later = receiver.requests.filter((r) => Number(r.key) > 10);
      assert.ok(
        later.every((r) => r.at < first!.at + 3000),
        `the later batches were delivered within the Retry-After (last ${Math.max(...later.map((r) => r.at)) - first!.at} ms after the 429)`,
      );
      assert.ok(
        receiver.requests.indexOf(retried!) > receiver.requests.indexOf(later.at(-1)!),
        'the provider saw the later batches before the retry',
      );
      // One checkpoint per batch, each from where the one before it ended, the first only after the retry.
      assert.deepEqual(
        checkpoints.map((c) => [c.from, c.to]),
        checkpointsOfTen(60),
      );
      assert.ok(checkpoints[0]!.at >= retried!.at, 'the first checkpoint waited for the retry');
      for (let id = 1; id <= 60; id++) assert.equal(receiver.delivered(String(id)), 1, `item ${id} delivered once`);
      await sluice.close();
      await store.close();
    });
  });

  it("the store's connection failing at a checkpoint behind a waiting batch: the lane abandons the batches after it and goes on from the stored checkpoint, sending nothing twice", async () => {
    await withReceiver(async (receiver) => {
      receiver.retryAfterS = 1;
      receiver.script('5', [429]);
      const store: SqliteStore = await openSqliteStore(join(dir, 'store-fails.db'));
      const checkpoints = recordCheckpoints(store);
      // The second batch's checkpoint fails once, as a dropped connection would, after the first committed.
      let failed = false;
      interceptCheckpoints(store, (write, checkpoint) => {
        if (write.previousCursor === 10 && !failed) {
          failed = true;
          throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
        }
        return checkpoint(write);
      });
      const def = oneLanePush(receiver, 'store-fails', 40);
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('store-fails')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.ok(failed, 'the checkpoint failed once');
      for (let id = 1; id <= 40; id++) assert.equal(receiver.delivered(String(id)), 1, `item ${id} delivered once`);
      assert.equal(receiver.requests.length, 41, 'every item once, item 5 twice (its 429)');
      // Every checkpoint that landed moved the cursor on from where the last one left it.
      const landed = checkpoints.map((c) => [c.from, c.to]);
      assert.deepEqual(landed, checkpointsOfTen(40));
      assert.equal(outcome.counts.processed + outcome.counts.skipped, 40);
      await sluice.close();
      await store.close();
    });
  });

  it('a lane that loses its lease while batches wait behind a Retry-After commits none of them; the next holder sends only the item to retry', async () => {
    await withReceiver(async (receiver) => {
      // Item 5 (first batch): "come back in 30 s", far longer than the test lasts: only the lease's
      // loss ends the wait. Six batches of 10: the five after the first wait for their turn.
      receiver.retryAfterS = 30;
      receiver.script('5', [429]);
      const path = join(dir, 'lease-lost.db');
      const store: SqliteStore = await openSqliteStore(path);
      const checkpoints = recordCheckpoints(store);
      const def = oneLanePush(receiver, 'lease-lost', 60);
      const sluice = createSluice({ store, backfills: [def], leaseMs: 600 });
      const handle = await sluice.start('lease-lost');
      await waitFor(() => receiver.requests.length === 60, 'every item sent once');
      await waitFor(
        async () => (await store.deliveredKeys('lease-lost', ['1', '11', '60'])).size === 3,
        'the later batches recorded ahead',
      );
      // Another worker takes the partition over (a new fence), as after a long pause of this process;
      // its lease runs out unused, and this process's orphan watch takes the partition back.
      const db = new Database(path);
      db.prepare(`UPDATE sluice_partitions SET fence = fence + 1, lease_owner = 'thief', lease_expires_at = ? WHERE run_id = ?`).run(
        Date.now() + 300,
        handle.runId,
      );
      db.close();
      const stolenAt = Date.now();
      const outcome = await handle.done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      // The lane wrote no checkpoint with its lost lease: the first one came after the takeover.
      assert.ok(checkpoints.length > 0 && checkpoints[0]!.at >= stolenAt, 'no checkpoint before the lease was taken');
      assert.deepEqual(
        checkpoints.map((c) => [c.from, c.to]),
        checkpointsOfTen(60),
        'the next holder went through the partition from its stored cursor',
      );
      // Only item 5 was sent again; everything else the waiting batches delivered was in the ledger.
      assert.equal(receiver.requests.length, 61, receiver.requests.map((r) => r.key).join(','));
      for (let id = 1; id <= 60; id++) assert.equal(receiver.delivered(String(id)), 1, `item ${id} delivered once`);
      assert.deepEqual([outcome.counts.processed, outcome.counts.skipped], [1, 59]);
      await sluice.close();
      await store.close();
    });
  });

  it('a retune to fewer lanes while each lane has batches waiting: the retired lane commits its waiting batches in order and hands the rest of its partition to the other, sending nothing twice', async () => {
    await withReceiver(async (receiver) => {
      // Two partitions of 500 items, batches of 10; an item of each first batch waits 5 s to be
      // retried, so both lanes fill their windows of batches in flight behind it.
      receiver.retryAfterS = 5;
      const path = join(dir, 'retune.db');
      sqliteOrders(path, 1000);
      const store: SqliteStore = await openSqliteStore(path);
      const def = defineBackfill<{ id: number }>({
        name: 'retune',
        source: sqlKeyset({ table: 'orders', key: 'id' }),
        batchSize: 10,
        concurrency: 2,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
        maxFailureRatio: 1,
        process: (batch, ctx) => sendEach(receiver, batch, ctx),
      });
      const retried = ['5', '505'];
      for (const key of retried) receiver.script(key, [429]);
      const sluice = createSluice({ store, backfills: [def], leaseMs: 600 });
      const handle = await sluice.start('retune');
      const partitions = await waitFor(async () => {
        const listed = await store.listPartitions(handle.runId);
        return listed.length === 2 && listed.every((p) => p.state === 'running') ? listed : undefined;
      }, 'both partitions claimed');
      assert.deepEqual(
        partitions.map((p) => [p.lower, p.upper]),
        [
          [null, [501]],
          [[501], null],
        ],
      );
      const full = BATCHES_IN_FLIGHT_PER_LANE * 10;
      await waitFor(
        () => retried.every((key) => receiver.sent(key) === 1) && receiver.requests.length >= 2 * full - 20,
        'both windows of batches in flight behind a waiting one',
      );
      const retunedAt = Date.now();
      await sluice.retune(handle.runId, { concurrency: 1 }, 'test', 'fewer lanes');
      // No checkpoint can happen before the waiting items' retries: the lanes' heartbeat finds the retune.
      await waitFor(
        async () => (await store.listDecisions(handle.runId)).some((d) => d.kind === 'retuned'),
        'the retune applied while the batches wait',
        3000,
      );
      assert.deepEqual(
        retried.map((key) => receiver.sent(key)),
        [1, 1],
        'applied before the waiting items were retried',
      );
      const outcome = await handle.done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      for (let id = 1; id <= 1000; id++) assert.equal(receiver.delivered(String(id)), 1, `item ${id} delivered once`);
      assert.equal(receiver.requests.length, 1002, 'every item once, the two waiting ones twice');
      // After the retune one lane works at a time: the fresh requests go through one partition, then the other.
      const later = receiver.requests
        .filter((r) => r.at > retunedAt + 500 && !retried.includes(r.key))
        .map((r) => (Number(r.key) <= 500 ? 0 : 1));
      const switches = later.filter((p, i) => i > 0 && p !== later[i - 1]).length;
      assert.ok(switches <= 1, `one lane after the retune: ${switches} switches between partitions`);
      assert.deepEqual([outcome.counts.processed + outcome.counts.skipped], [1000]);
      await sluice.close();
      await store.close();
    });
  });

  it("a 429 seen through httpRateLimit still holds back the lane's next batches for the advised time", async () => {
    await withReceiver(async (receiver) => {
      receiver.retryAfterS = 1;
      receiver.script('5', [429]);
      const store: SqliteStore = await openSqliteStore(join(dir, 'rate-limit.db'));
      const limit = httpRateLimit({ name: 'provider' });
      const def = defineBackfill<{ id: number }>({
        name: 'limited',
        source: items(30),
        key: (i) => i.id,
        batchSize: 10,
        concurrency: 1,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
        maxFailureRatio: 1,
        throttle: { signals: [limit], signalIntervalMs: 50 },
        async process(batch, ctx) {
          await Promise.all(
            batch.map(async (item) => {
              await limit.wait(ctx.signal);
              const response = await fetch(`${receiver.url}/items/${item.id}`, {
                method: 'POST',
                headers: { 'idempotency-key': ctx.idempotencyKey(item) },
              });
              await response.text();
              const { retryAfterMs } = limit.observe(response);
              if (!response.ok) ctx.retryLater(item, { error: new HttpError(response.status, retryAfterMs), afterMs: retryAfterMs ?? 0 });
            }),
          );
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('limited')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      const [limited] = receiver.requests.filter((r) => r.key === '5');
      const next = receiver.requests.filter((r) => Number(r.key) > 10);
      assert.equal(next.length, 20);
      const soonest = Math.min(...next.map((r) => r.at)) - limited!.at;
      assert.ok(soonest >= 1000, `the next batch went ${soonest} ms after the 429 (Retry-After: 1)`);
      assert.equal(receiver.requests.length, 31, 'every item once, item 5 twice: nothing was sent into the limit');
      await sluice.close();
      await store.close();
    });
  });

  it("refuses a report of an item that is not in the batch, as the batch's failure", async () => {
    const store: SqliteStore = await openSqliteStore(join(dir, 'stranger.db'));
    const def = defineBackfill<{ id: number }>({
      name: 'stranger',
      source: items(5),
      key: (i) => i.id,
      batchSize: 5,
      retry: { attempts: 1 },
      maxFailureRatio: 1,
      process: (_batch, ctx) => ctx.fail({ id: 99 }, new Error('no')),
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('stranger')).done;
    const quarantine = await sluice.listQuarantine({ runId: outcome.runId });
    assert.equal(quarantine.length, 5);
    assert.match(quarantine[0]!.message, /ctx\.fail was given an item that is not in this call's batch \(key "99"\)/);
    await sluice.close();
    await store.close();
  });
});

const SRC = (path: string) => pathToFileURL(new URL(`../../src/${path}`, import.meta.url).pathname).href;

/**
 * The backfill of the crash tests, run in a child process of its own (killed with SIGKILL): 30
 * items in batches of 10, one lane, each item POSTed to the receiver and settled per item.
 */
const CHILD = `
const { createSluice, defineBackfill, iterable } = await import(${JSON.stringify(SRC('index.ts'))});
const { openSqliteStore } = await import(${JSON.stringify(SRC('sqlite.ts'))});
const [db, url] = process.argv.slice(2);
const store = await openSqliteStore(db);
const def = defineBackfill({
  name: 'push', key: (i) => i.id, batchSize: 10, concurrency: 1, maxFailureRatio: 1,
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
  source: iterable({ from: (after) => Array.from({ length: 30 - Number(after ?? 0) }, (_, i) => ({ id: Number(after ?? 0) + i + 1 })), cursorOf: (i) => i.id }),
  async process(batch, ctx) {
    await Promise.all(batch.map(async (item) => {
      const response = await fetch(url + '/items/' + item.id, { method: 'POST', headers: { 'idempotency-key': ctx.idempotencyKey(item) } });
      await response.text();
      if (response.ok) return;
      const retryAfter = response.headers.get('retry-after');
      ctx.retryLater(item, { error: new Error('HTTP ' + response.status), ...(retryAfter ? { afterMs: Number(retryAfter) * 1000 } : {}) });
    }));
  },
});
// By default, as the CLI does: the lease of a process that died on this host is taken over at once.
const sluice = createSluice({ store, backfills: [def] });
const outcome = await (await sluice.start('push')).done;
await sluice.close();
await store.close();
process.stdout.write(JSON.stringify({ state: outcome.state, counts: outcome.counts }) + '\\n');
`;

describe('a crash in the middle of a partly successful batch (a child process, SIGKILLed)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    writeFileSync(join(dir, 'child.mjs'), CHILD);
  });
  after(async () => cleanup());

  const startChild = (db: string, receiver: Receiver): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', join(dir, 'child.mjs'), db, receiver.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const finished = async (
    child: ChildProcess,
  ): Promise<{ state: string; counts: { processed: number; skipped: number; quarantined: number } }> => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0, out);
    return JSON.parse(out.trim().split('\n').at(-1)!);
  };
  const ledgerSize = (db: string): number => {
    let conn: Database.Database | undefined;
    try {
      conn = new Database(db, { readonly: true, fileMustExist: true });
      return (conn.prepare("SELECT COUNT(*) AS n FROM sluice_ledger WHERE namespace = 'push'").get() as { n: number }).n;
    } catch {
      return 0; // the child has not created the store (or its tables) yet
    } finally {
      conn?.close();
    }
  };
  /** The run's one partition's stored cursor (JSON). */
  const checkpointOf = (db: string): unknown => {
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return JSON.parse((conn.prepare('SELECT cursor FROM sluice_partitions').get() as { cursor: string }).cursor);
    } finally {
      conn.close();
    }
  };
  const kill = async (child: ChildProcess): Promise<void> => {
    const closed = once(child, 'close');
    child.kill('SIGKILL');
    const [, signal] = (await closed) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL');
  };

  it("killed while a batch waits to retry one item and the lane's later batches wait behind it: the restart sends only that item again (every delivered item was recorded)", async () => {
    const receiver = new Receiver();
    await receiver.start();
    try {
      const db = join(dir, 'waiting.db');
      // Item 5: "come back in 60 s"; the first batch's 9 other items are taken.
      receiver.retryAfterS = 60;
      receiver.script('5', [429]);
      const first = startChild(db, receiver);
      // The lane goes on while the first batch waits: the second and third batches are delivered,
      // and wait for their turn to commit behind it. Every delivered item reaches the ledger first
      // (record-ahead): the event to kill on. Nothing is checkpointed yet.
      await waitFor(() => ledgerSize(db) === 29, 'every delivered item in the ledger');
      assert.equal(receiver.requests.length, 30, "each batch's first call only");
      assert.equal(checkpointOf(db), null, 'the cursor did not pass the waiting item');
      await kill(first);
      const before = receiver.requests.length;

      const outcome = await finished(startChild(db, receiver));
      assert.equal(outcome.state, 'succeeded');
      // docs/exactly-once.md's bound for a crash while batches wait: only the items not recorded as delivered.
      assert.deepEqual(
        receiver.requests.slice(before).map((r) => r.key),
        ['5'],
        'only the item whose outcome was not recorded was sent again',
      );
      assert.deepEqual([outcome.counts.processed, outcome.counts.skipped], [1, 29]);
      for (let id = 1; id <= 30; id++) {
        assert.equal(receiver.delivered(String(id)), 1, `item ${id} delivered once`);
      }
    } finally {
      await receiver.stop();
    }
  });

  it("killed while the batch's first call is in flight (9 of its 10 items answered): the restart re-sends at most that call's items, under the same keys", async () => {
    const receiver = new Receiver();
    await receiver.start();
    try {
      const db = join(dir, 'in-flight.db');
      // Item 10's first request is never answered: the call is in flight, 9 items taken.
      receiver.script('10', [0]);
      const held = new Promise<void>((resolve) => (receiver.onHeld = () => resolve()));
      const first = startChild(db, receiver);
      await held;
      await waitFor(() => receiver.requests.filter((r) => r.status === 200).length === 9, 'the other 9 items answered');
      await kill(first);
      assert.equal(ledgerSize(db), 0, 'the call never returned: nothing of it was recorded');
      const before = receiver.requests.length;
      const keysBefore = new Map(receiver.requests.map((r) => [r.key, r.idempotencyKey]));

      const outcome = await finished(startChild(db, receiver));
      assert.equal(outcome.state, 'succeeded');
      const again = receiver.requests.slice(before);
      const resent = again
        .map((r) => Number(r.key))
        .filter((id) => id <= 10)
        .sort((a, b) => a - b);
      // The bound: a crash re-sends at most the call of process in flight (the batch's first call: all its items).
      assert.deepEqual(resent, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(
        again.filter((r) => Number(r.key) <= 10 && keysBefore.get(r.key) !== r.idempotencyKey),
        [],
        'the same idempotency keys: the provider can drop the repeats',
      );
      assert.equal(again.length, 30, 'every other item once');
      assert.deepEqual([outcome.counts.processed, outcome.counts.skipped], [30, 0]);
    } finally {
      await receiver.stop();
    }
  });
});
