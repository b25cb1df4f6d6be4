import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSluice, defineBackfill, PermanentError, sqlKeyset, iterable } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import type { Store } from '../../src/index.js';
import { tempDir } from '../helpers/temp.js';

interface Row {
  id: number;
  value: number;
  created_at: string;
}

const ROWS = 5000;

/** A store file with a `items` table of ROWS rows the backfills read and write. */
async function setup(dir: string, name: string): Promise<{ path: string; store: Store }> {
  const path = join(dir, `${name}.db`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL, created_at TEXT NOT NULL, result INTEGER, writes INTEGER NOT NULL DEFAULT 0)',
  );
  const insert = db.prepare('INSERT INTO items (id, value, created_at) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) insert.run(i, i * 7, new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString());
  })();
  db.close();
  return { path, store: await openSqliteStore(path) };
}

function readItems(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id, result, writes FROM items ORDER BY id').all() as Array<{
      id: number;
      result: number | null;
      writes: number;
    }>;
  } finally {
    db.close();
  }
}

const fastRetry = { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 };

describe('engine on SQLite', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('transactional: writes and checkpoint commit together; a failing attempt leaves no trace', async () => {
    const { path, store } = await setup(dir, 'tx');
    let failOnce = true;
    const def = defineBackfill<Row>({
      name: 'score',
      source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
      delivery: 'transactional',
      batchSize: 400,
      retry: fastRetry,
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'UPDATE items SET result = ?, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [r.value * 2, r.id]),
        );
        // Fail after writing, once: the rollback must undo the writes of this attempt.
        if (failOnce && batch.some((r) => r.id === 2001)) {
          failOnce = false;
          throw new Error('transient');
        }
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const handle = await sluice.start('score', { actor: 'test' });
    const retries: number[] = [];
    handle.on('retry', (r) => retries.push(r.attempt));
    const outcome = await handle.done;
    assert.equal(outcome.state, 'succeeded');
    assert.equal(outcome.pausedAsAsked, false);
    assert.deepEqual(retries, [1]);
    assert.equal(outcome.counts.processed, ROWS);
    const rows = readItems(path);
    assert.ok(
      rows.every((r) => r.writes === 1 && r.result !== null),
      'every row written exactly once',
    );
    const status = await sluice.status(outcome.runId);
    assert.deepEqual(
      status.transitions.map((t) => t.to),
      ['pending', 'running', 'succeeded'],
    );
    assert.equal(status.transitions[1]!.actor, 'test');
    await store.close();
  });

  it('at-least-once: the ledger skips delivered keys on a new run and across namespaces only where shared', async () => {
    const { store } = await setup(dir, 'ledger');
    const delivered: number[] = [];
    const def = defineBackfill<Row>({
      name: 'export',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      batchSize: 700,
      async process(batch, ctx) {
        assert.equal(ctx.tx, undefined);
        assert.match(ctx.idempotencyKey(batch[0]), /^export-[0-9a-f]{40}$/);
        delivered.push(...batch.map((r) => r.id));
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const first = await (await sluice.start('export')).done;
    assert.equal(first.state, 'succeeded');
    assert.equal(delivered.length, ROWS);
    const second = await (await sluice.start('export', { newRun: true })).done;
    assert.equal(second.state, 'succeeded');
    assert.equal(second.counts.skipped, ROWS);
    assert.equal(second.counts.processed, 0);
    assert.equal(delivered.length, ROWS, 'nothing delivered twice');
    await store.close();
  });

  it('bisects a failing batch, quarantines only the bad items, pauses on the failure ratio, and replays after a fix', async () => {
    const { store } = await setup(dir, 'quarantine');
    let broken = true;
    const processed = new Set<number>();
    const def = defineBackfill<Row>({
      name: 'picky',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      batchSize: 250,
      retry: fastRetry,
      maxFailureRatio: 0.01,
      async process(batch) {
        const bad = batch.find((r) => r.id % 50 === 0);
        if (broken && bad) throw new PermanentError(`cannot handle ${bad.id}`, 'BAD_ROW');
        for (const r of batch) processed.add(r.id);
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('picky')).done;
    // 2 % of items are bad: above 1 %, so the run pauses itself after the first judged batch.
    assert.equal(outcome.state, 'paused');
    assert.equal(outcome.pausedAsAsked, false, 'the guard paused it: an interruption, not a planned stop');
    assert.match(outcome.reason ?? '', /failure ratio 2\.0 % exceeds maxFailureRatio 1\.0 %/);
    const quarantined = await sluice.listQuarantine({ runId: outcome.runId });
    assert.ok(quarantined.length > 0);
    assert.ok(quarantined.every((q) => Number(q.itemKey) % 50 === 0 && q.errorClass === 'BAD_ROW' && q.payload !== null));
    assert.ok([...processed].every((id) => id % 50 !== 0));
    assert.equal(outcome.counts.processed + outcome.counts.quarantined, outcome.counts.received);

    broken = false;
    const replay = await sluice.replayQuarantine(outcome.runId);
    assert.equal(replay.replayed, quarantined.length);
    assert.equal(replay.stillFailing, 0);
    assert.equal((await sluice.listQuarantine({ runId: outcome.runId, status: 'open' })).length, 0);
    const resumed = await (await sluice.resume(outcome.runId)).done;
    assert.equal(resumed.state, 'succeeded');
    assert.equal(processed.size, ROWS);
    assert.equal(resumed.counts.processed, ROWS);
    assert.equal(resumed.counts.quarantined, 0);
    await store.close();
  });

  it('stops after --max-batches as asked, then resumes to the end', async () => {
    const { path, store } = await setup(dir, 'maxbatches');
    const def = defineBackfill<Row>({
      name: 'slowly',
      source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
      delivery: 'transactional',
      batchSize: 100,
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [r.id]),
        );
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const first = await (await sluice.start('slowly', { maxBatches: 3 })).done;
    assert.equal(first.state, 'paused');
    assert.equal(first.pausedAsAsked, true, 'maxBatches asked for this pause');
    assert.equal(first.counts.processed, 300);
    assert.equal(readItems(path).filter((r) => r.writes === 1).length, 300);
    const second = await (await sluice.start('slowly')).done;
    assert.equal(second.runId, first.runId, 'start resumes the open run');
    assert.equal(second.state, 'succeeded');
    assert.ok(readItems(path).every((r) => r.writes === 1));
    await store.close();
  });

  it('honours a pause written to the store by another process at the next batch boundary', async () => {
    const { store } = await setup(dir, 'control');
    let runId = '';
    let batches = 0;
    const def = defineBackfill<Row>({
      name: 'controlled',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      batchSize: 100,
      async process() {
        batches += 1;
        // As `sluice pause` from another process would: write the control row.
        if (batches === 5)
          await store.setControl(runId, { kind: 'pause', actor: 'operator', reason: 'db busy', requestedAt: new Date().toISOString() });
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const handle = await sluice.start('controlled');
    runId = handle.runId;
    const outcome = await handle.done;
    assert.equal(outcome.state, 'paused');
    assert.equal(outcome.pausedAsAsked, false);
    assert.equal(outcome.batches, 5, 'stopped right after the batch that saw the request');
    const status = await sluice.status(runId);
    const last = status.transitions.at(-1)!;
    assert.deepEqual([last.to, last.actor, last.reason], ['paused', 'operator', 'db busy']);
    assert.equal(status.run.control, null, 'the request is cleared once honoured');
    assert.ok(
      status.partitions.every((p) => p.leaseOwner === null),
      'leases released',
    );
    await store.close();
  });

  it('cancels at the next batch boundary and refuses to resume a cancelled run', async () => {
    const { store } = await setup(dir, 'cancel');
    let handleRef: { cancel(a: string, r: string): void } | undefined;
    let batches = 0;
    const def = defineBackfill<Row>({
      name: 'cancelme',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      batchSize: 100,
      async process() {
        if (++batches === 2) handleRef!.cancel('operator', 'wrong parameters');
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const handle = await sluice.start('cancelme');
    handleRef = handle;
    const outcome = await handle.done;
    assert.equal(outcome.state, 'cancelled');
    assert.equal(outcome.pausedAsAsked, false);
    assert.equal(outcome.batches, 2);
    await assert.rejects(sluice.resume(outcome.runId), /cancelled; only pending, paused or interrupted runs can be resumed/);
    await store.close();
  });

  for (const delivery of ['transactional', 'at-least-once', 'idempotent'] as const) {
    it(`abortInFlight (${delivery}): the batch in flight stops through ctx.signal, nothing is quarantined, the run pauses and a resume finishes it exactly once`, async () => {
      const { path, store } = await setup(dir, `abort-${delivery}`);
      let handleRef: { abortInFlight(): void } | undefined;
      let batches = 0;
      const delivered = new Map<number, number>();
      const def = defineBackfill<Row>({
        name: `abortable-${delivery}`,
        source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
        delivery,
        batchSize: 250,
        retry: fastRetry,
        async process(batch, ctx) {
          if (++batches === 3) {
            // A slow call that honours the signal, as a fetch() given ctx.signal would.
            const aborted = new Promise<never>((_, reject) =>
              ctx.signal.addEventListener('abort', () => reject(new Error('aborted by the host')), { once: true }),
            );
            handleRef!.abortInFlight();
            await aborted;
          }
          if (delivery === 'transactional') {
            await ctx.tx!.executeMany(
              'UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?',
              batch.map((r) => [r.id]),
            );
          } else {
            for (const row of batch) delivered.set(row.id, (delivered.get(row.id) ?? 0) + 1);
          }
        },
      });
      const sluice = createSluice({ store, backfills: [def] });
      const handle = await sluice.start(def.name);
      handleRef = handle;
      const first = await handle.done;
      assert.equal(first.state, 'paused');
      assert.equal(first.counts.processed, 500, 'the two batches before the abort committed, the aborted one did not');
      assert.equal(first.counts.quarantined, 0, "an abort is not the items' fault");
      assert.deepEqual(await store.listQuarantine({ runId: first.runId }), []);
      const last = (await sluice.status(first.runId)).transitions.at(-1)!;
      assert.deepEqual([last.to, last.actor], ['paused', 'host']);
      const second = await (await sluice.resume(first.runId)).done;
      assert.equal(second.state, 'succeeded');
      assert.equal(second.counts.processed, ROWS);
      if (delivery === 'transactional')
        assert.ok(
          readItems(path).every((r) => r.writes === 1),
          'every row written once',
        );
      else
        assert.ok(
          [...Array(ROWS).keys()].every((i) => delivered.get(i + 1) === 1),
          'every item delivered once',
        );
      await store.close();
    });
  }

  it('runs N partitions concurrently, each item exactly once', async () => {
    const { path, store } = await setup(dir, 'concurrent');
    let inFlight = 0;
    let maxInFlight = 0;
    const def = defineBackfill<Row>({
      name: 'wide',
      source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
      delivery: 'at-least-once',
      batchSize: 200,
      concurrency: 4,
      async process(batch) {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        const db = new Database(path);
        db.pragma('busy_timeout = 5000');
        const update = db.prepare('UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?');
        db.transaction(() => batch.forEach((r) => update.run(r.id)))();
        db.close();
        inFlight -= 1;
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('wide')).done;
    assert.equal(outcome.state, 'succeeded');
    const status = await sluice.status(outcome.runId);
    assert.equal(status.partitions.length, 4);
    assert.ok(maxInFlight > 1, `batches overlapped (max in flight ${maxInFlight})`);
    assert.ok(readItems(path).every((r) => r.writes === 1));
    await store.close();
  });

  it('dry run: calls process with dryRun, rolls back, records nothing', async () => {
    const { path, store } = await setup(dir, 'dry');
    const seen: boolean[] = [];
    const def = defineBackfill<Row>({
      name: 'dry',
      source: sqlKeyset({ table: 'items', key: 'id', sinceColumn: 'created_at' }),
      delivery: 'transactional',
      dedup: true,
      batchSize: 1000,
      async process(batch, ctx) {
        seen.push(ctx.dryRun);
        await ctx.tx!.executeMany(
          'UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [r.id]),
        );
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('dry', { dryRun: true, since: '2026-01-03T00:00:00Z' })).done;
    assert.equal(outcome.state, 'succeeded');
    assert.ok(outcome.dryRun);
    // Rows are one minute apart from 2026-01-01T00:01: 2 days = 2880 rows are older than `since`.
    assert.equal(outcome.counts.processed, ROWS - 2879);
    assert.ok(seen.length > 0 && seen.every(Boolean));
    assert.ok(
      readItems(path).every((r) => r.writes === 0),
      'nothing written',
    );
    assert.equal((await sluice.listRuns()).length, 0, 'no run recorded');
    await store.close();
  });

  it('takes over a run whose worker died, recording what happened', async () => {
    const { path, store } = await setup(dir, 'takeover');
    const def = defineBackfill<Row>({
      name: 'takeover',
      source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
      delivery: 'transactional',
      batchSize: 500,
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [r.id]),
        );
      },
    });
    // A first worker processes two batches and "dies": its lease stays, its run stays `running`.
    const dead = createSluice({ store, backfills: [def], worker: { id: 'otherhost:1:dead', host: 'otherhost', pid: 1 } });
    const first = await (await dead.start('takeover', { maxBatches: 2 })).done;
    assert.equal(first.state, 'paused');
    await store.transitionRun(first.runId, ['paused'], 'running', 'test', 'simulate a crash mid-run');
    const lease = await store.claimPartition(first.runId, 'otherhost:1:dead', 60_000);
    assert.ok(lease);

    const survivor = createSluice({ store, backfills: [def], isOwnerDead: (owner) => owner === 'otherhost:1:dead' });
    const outcome = await (await survivor.start('takeover')).done;
    assert.equal(outcome.runId, first.runId);
    assert.equal(outcome.state, 'succeeded');
    assert.ok(readItems(path).every((r) => r.writes === 1));
    const reasons = (await survivor.status(outcome.runId)).transitions.map((t) => `${t.to}:${t.actor}`);
    assert.deepEqual(reasons.slice(-3), ['paused:sluice', 'running:api', 'succeeded:sluice']);
    await store.close();
  });

  it('joins a run that a live worker holds instead of starting it again or pausing it', async () => {
    const { store } = await setup(dir, 'held');
    const def = defineBackfill<Row>({ name: 'held', source: sqlKeyset({ table: 'items', key: 'id' }), process: async () => {} });
    const a = createSluice({ store, backfills: [def] });
    const first = await (await a.start('held', { maxBatches: 1 })).done;
    await store.transitionRun(first.runId, ['paused'], 'running', 'test', 'another worker holds it');
    await store.claimPartition(first.runId, 'otherhost:2:alive', 60_000);
    const joined = await a.start('held');
    assert.equal(joined.runId, first.runId, 'the open run, not a new one');
    joined.leave('test over');
    await joined.done;
    assert.equal((await store.listRuns({ backfill: 'held' })).length, 1);
    assert.deepEqual(
      (await store.listTransitions(first.runId)).map((t) => t.to).slice(-1),
      ['running'],
      "nobody paused the live worker's run",
    );
    await store.close();
  });

  it('a run paused in another process while a lane works it ends here paused, with the actor and reason of that pause', async () => {
    const { store } = await setup(dir, 'pausedelsewhere');
    let runId = '';
    let pausedElsewhere = false;
    const def = defineBackfill<Row>({
      name: 'pausedelsewhere',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      batchSize: 100,
      async process() {
        // Another process (the last worker leaving after `sluice pause`) moves the run to paused
        // while this batch is in flight; this lane learns it from its checkpoint.
        if (!pausedElsewhere) {
          pausedElsewhere = true;
          await store.transitionRun(runId, ['running'], 'paused', 'ops', 'db maintenance');
        }
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const handle = await sluice.start('pausedelsewhere');
    runId = handle.runId;
    const states: Array<{ to: string; actor: string; reason: string }> = [];
    handle.on('state', (e) => states.push({ to: e.to, actor: e.actor, reason: e.reason }));
    const outcome = await handle.done;
    assert.equal(outcome.state, 'paused');
    assert.equal(outcome.reason, 'db maintenance', 'the reason of whoever paused it, not a generic one');
    assert.deepEqual(states.at(-1), { to: 'paused', actor: 'ops', reason: 'db maintenance' });
    assert.equal((await store.getRun(runId))?.state, 'paused');
    await store.close();
  });

  it('loses a stolen lease without committing: the fenced checkpoint rolls the batch back', async () => {
    const { store } = await setup(dir, 'fence');
    let stolen = false;
    let runId = '';
    const def = defineBackfill<Row>({
      name: 'fenced',
      source: sqlKeyset({ table: 'items', key: 'id' }),
      batchSize: 100,
      async process() {
        if (!stolen) {
          stolen = true;
          // Another worker takes the partition over while this batch is in flight.
          await store.expireLeases(() => true);
          assert.ok(await store.claimPartition(runId, 'thief:1:x', 60_000));
        }
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    // Not following the run: the thief never works it, so a follower would wait out its lease.
    const handle = await sluice.start('fenced', { follow: false });
    runId = handle.runId;
    const outcome = await handle.done;
    assert.equal(outcome.state, 'running', 'the thief holds the run now');
    assert.equal(outcome.pausedAsAsked, false);
    assert.deepEqual(outcome.otherWorkers, ['thief:1:x']);
    const [partition] = await store.listPartitions(runId);
    assert.equal(partition!.leaseOwner, 'thief:1:x');
    assert.equal(partition!.fence, 2);
    assert.equal(partition!.cursor, null, 'the stolen batch never committed');
    assert.equal((await store.deliveredKeys('fenced', ['1', '2', '100'])).size, 0);
    await store.close();
  });

  it('fails a run whose partition cannot go on, then retry runs only what is left', async () => {
    const { path, store } = await setup(dir, 'retry');
    let broken = true;
    const def = defineBackfill<Row>({
      name: 'retryme',
      source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
      delivery: 'transactional',
      batchSize: 500,
      concurrency: 2,
      // A key function that throws is a bug in the definition, not a bad item: the partition fails.
      key: (row) => {
        if (broken && row.id === 4000) throw new Error('key function crashed');
        return row.id;
      },
      dedup: true,
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [r.id]),
        );
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const failed = await (await sluice.start('retryme')).done;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.pausedAsAsked, false);
    assert.match(failed.reason ?? '', /1 of 2 partitions failed: key function crashed/);
    const status = await sluice.status(failed.runId);
    assert.deepEqual(
      status.partitions.map((p) => p.state),
      ['done', 'failed'],
    );
    await assert.rejects(sluice.resume(failed.runId), (e: unknown) => /use `retry\('r_/.test((e as { hint?: string }).hint ?? ''));

    broken = false;
    const retried = await (await sluice.retry(failed.runId, { actor: 'oncall' })).done;
    assert.equal(retried.state, 'succeeded');
    assert.ok(readItems(path).every((r) => r.writes === 1));
    const log = (await sluice.status(failed.runId)).transitions.map((t) => `${t.from}->${t.to}:${t.actor}`);
    assert.deepEqual(log.slice(-3), ['failed->pending:oncall', 'pending->running:oncall', 'running->succeeded:sluice']);
    await store.close();
  });

  it('idle lanes split the largest partition, and every item is still processed exactly once', async () => {
    const { path, store } = await setup(dir, 'split');
    const def = defineBackfill<Row>({
      name: 'splitme',
      source: sqlKeyset({ table: 'items', key: 'id', where: 'result IS NULL' }),
      delivery: 'transactional',
      batchSize: 100,
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'UPDATE items SET result = 1, writes = writes + 1 WHERE id = ?',
          batch.map((r) => [r.id]),
        );
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    // Created with one partition, then resumed with three lanes: two of them have nothing to claim.
    const first = await (await sluice.start('splitme', { maxBatches: 1 })).done;
    assert.equal((await sluice.status(first.runId)).partitions.length, 1);
    const outcome = await (await sluice.resume(first.runId, { concurrency: 3 })).done;
    assert.equal(outcome.state, 'succeeded');
    const partitions = (await sluice.status(outcome.runId)).partitions;
    assert.ok(partitions.length >= 3, `split into ${partitions.length} partitions`);
    assert.ok(partitions.filter((p) => p.counts.processed > 0).length >= 3, 'the new partitions did work');
    assert.equal(
      partitions.reduce((n, p) => n + p.counts.processed, 0),
      ROWS,
    );
    assert.ok(readItems(path).every((r) => r.writes === 1));
    await store.close();
  });

  it('works with an iterable source and resumes it from its cursor', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    const store = await openSqliteStore(join(d, 'it.db'));
    const seen: number[] = [];
    const def = defineBackfill<{ n: number }>({
      name: 'numbers',
      source: iterable({
        async *from(cursor) {
          for (let n = cursor === null ? 0 : Number(cursor) + 1; n < 1000; n++) yield { n };
        },
        cursorOf: (item) => item.n,
      }),
      key: (item) => item.n,
      batchSize: 64,
      async process(batch) {
        seen.push(...batch.map((i) => i.n));
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    await (await sluice.start('numbers', { maxBatches: 3 })).done;
    const outcome = await (await sluice.start('numbers')).done;
    assert.equal(outcome.state, 'succeeded');
    assert.deepEqual(
      seen,
      Array.from({ length: 1000 }, (_, i) => i),
    );
    await store.close();
    await c();
  });
  it('quarantines a thrown non-Error value saying what was thrown, whatever it is', async () => {
    const { dir: d, cleanup: c } = await tempDir();
    const store = await openSqliteStore(join(d, 'thrown.db'));
    const cyclic: Record<string, unknown> = { code: 'LOOP' };
    cyclic.self = cyclic;
    const thrown: unknown[] = [{ code: 42 }, null, undefined, 7, 'plain words', cyclic, { big: 'x'.repeat(1000) }];
    const def = defineBackfill<{ n: number }>({
      name: 'throws-values',
      source: iterable({
        async *from() {
          for (let n = 0; n < thrown.length; n++) yield { n };
        },
        cursorOf: (item) => item.n,
      }),
      key: (item) => item.n,
      batchSize: 1,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      maxFailureRatio: 1,
      async process([item]) {
        throw thrown[item!.n];
      },
    });
    const sluice = createSluice({ store, backfills: [def] });
    const outcome = await (await sluice.start('throws-values')).done;
    assert.equal(outcome.counts.quarantined, thrown.length);
    const messages = new Map((await sluice.listQuarantine({ runId: outcome.runId })).map((q) => [Number(q.itemKey), q.message]));
    assert.equal(messages.get(0), 'a non-Error value was thrown: {"code":42}');
    assert.equal(messages.get(1), 'a non-Error value was thrown: null');
    assert.equal(messages.get(2), 'a non-Error value was thrown: undefined');
    assert.equal(messages.get(3), 'a non-Error value was thrown: 7');
    assert.equal(messages.get(4), 'plain words');
    assert.equal(messages.get(5), 'a non-Error value was thrown: {"code":"LOOP","self":"[circular]"}');
    assert.match(messages.get(6) ?? '', /^a non-Error value was thrown: \{"big":"x{100,}…$/);
    assert.ok((messages.get(6) ?? '').length < 300, 'bounded');
    for (const message of messages.values()) assert.doesNotMatch(message, /\[object Object\]/);
    await store.close();
    await c();
  });
});
