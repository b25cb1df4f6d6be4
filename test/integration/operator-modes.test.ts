import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { coverage, createSluice, defineBackfill, iterable, jsonl, parity, PermanentError, uniqueness } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { buildRunReport } from '../../src/observe/report/run-report.js';
import { tempDir } from '../helpers/temp.js';

const items = (n: number) =>
  iterable({
    from: (c: unknown) => Array.from({ length: Math.max(0, n - Number(c ?? 0)) }, (_, i) => ({ id: Number(c ?? 0) + i + 1 })),
    cursorOf: (i: { id: number }) => i.id,
    count: () => n,
  });

describe('operator modes on a real store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('a canary stops after exactly N items over several lanes, and resuming finishes the rest once', async () => {
    const seen = new Map<number, number>();
    const def = defineBackfill({
      name: 'canary',
      source: items(5000),
      key: (i: { id: number }) => i.id,
      batchSize: 300,
      concurrency: 3,
      async process(batch) {
        for (const i of batch) seen.set(i.id, (seen.get(i.id) ?? 0) + 1);
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
    const store = await openSqliteStore(join(dir, 'canary.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      const canary = await (await sluice.start('canary', { maxItems: 1000 })).done;
      assert.equal(canary.state, 'paused');
      assert.equal(canary.counts.received, 1000, 'exactly the canary, over three lanes');
      assert.match(canary.reason!, /^canary: stopped after 1000 items/);
      const rest = await (await sluice.resume(canary.runId)).done;
      assert.equal(rest.state, 'succeeded');
      assert.equal(seen.size, 5000);
      assert.ok(
        [...seen.values()].every((n) => n === 1),
        'no item delivered twice',
      );
    } finally {
      await sluice.close();
      await store.close();
    }
  });

  it('a canary counts the items sent to process, quarantined ones too, not those the ledger skips', async () => {
    const def = defineBackfill({
      name: 'canary-counts',
      source: items(2000),
      key: (i: { id: number }) => i.id,
      batchSize: 70,
      concurrency: 2,
      maxFailureRatio: 1,
      retry: { attempts: 1 },
      process(batch) {
        const bad = batch.find((i) => i.id % 50 === 0);
        if (bad) throw new PermanentError(`item ${bad.id}`);
      },
    });
    const store = await openSqliteStore(join(dir, 'canary-counts.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      // An earlier run delivered the first 500 items: the ledger holds them.
      const first = await (await sluice.start('canary-counts', { maxItems: 500 })).done;
      assert.equal(first.counts.processed + first.counts.quarantined, 500);
      await sluice.cancel(first.runId, 'test', 'make room for a new run');
      const canary = await (await sluice.start('canary-counts', { maxItems: 300, newRun: true })).done;
      assert.equal(canary.state, 'paused');
      assert.match(canary.reason!, /^canary: stopped after 300 items/);
      const { processed, quarantined, skipped } = canary.counts;
      assert.equal(processed + quarantined, 300, JSON.stringify(canary.counts));
      assert.ok(quarantined >= 5, `the failing items counted: ${quarantined}`);
      assert.ok(skipped >= first.counts.processed - 2 * 70, `what the ledger skipped cost nothing: ${skipped}`);
      assert.deepEqual((await store.getRun(canary.runId))!.canary, { items: 300, left: 0 });
    } finally {
      await sluice.close();
      await store.close();
    }
  });

  it('a gradual run whose ramp has no lane to give has no free partition for a worker', async () => {
    const def = defineBackfill({ name: 'ramp-free', source: items(100), key: (i: { id: number }) => i.id, process() {} });
    const store = await openSqliteStore(join(dir, 'ramp-free.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      // Three partitions (a keyset source would plan them; this iterable plans one).
      const run = await store.createRun({
        id: 'r_rampfree',
        backfill: 'ramp-free',
        params: {},
        createdBy: 'test',
        reason: 'test',
        plannedItems: 100,
        options: { batchSize: 10, concurrency: 3, maxFailureRatio: 1, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } },
        partitions: [0, 1, 2].map((i) => ({ lower: [i * 40], upper: [(i + 1) * 40] })),
        rollout: { canaryItems: null, gradual: {} },
      });
      assert.equal(run.rampLanes, 1);
      assert.equal(await sluice.hasFreePartitions(run.id), true);
      assert.equal((await store.claimPartitionWithin(run.id, 'another-worker', 60_000, { keys: [] })).kind, 'claimed');
      assert.equal(await sluice.hasFreePartitions(run.id), false, "two pending partitions, but the ramp's one lane is taken");
      await store.moveRamp(run.id, {
        from: 1,
        to: 2,
        decision: { worker: 'another-worker', kind: 'gradual', reason: 'raised to 2 lane(s)', settings: {} },
      });
      assert.equal(await sluice.hasFreePartitions(run.id), true);
    } finally {
      await sluice.close();
      await store.close();
    }
  });

  it('a sampled dry run picks small, medium and large payloads and the malformed records, and writes nothing', async () => {
    const path = join(dir, 'snapshots.jsonl');
    const lines: string[] = [];
    for (let i = 1; i <= 300; i++) lines.push(JSON.stringify({ id: i, payload: 'x'.repeat(i * 10), big: i > 290 }));
    lines.splice(50, 0, '{"id": 9999, "payload": ');
    lines.splice(120, 0, 'not json at all');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const processed: number[] = [];
    const def = defineBackfill({
      name: 'sampled',
      source: jsonl<{ id: number; payload: string; big: boolean }>({ path }),
      key: (i) => i.id,
      process(batch, ctx) {
        assert.equal(ctx.dryRun, true);
        const big = batch.find((i) => i.big);
        if (big) throw new PermanentError(`payload ${big.id} too large for the target column`);
        processed.push(...batch.map((i) => i.id));
      },
    });
    const store = await openSqliteStore(join(dir, 'sample.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      const report = await sluice.sample('sampled', { perBucket: 4 });
      assert.equal(report.scanned, 302);
      assert.deepEqual(
        report.buckets.map((b) => [b.bucket, b.items]),
        [
          ['small', 4],
          ['medium', 4],
          ['large', 4],
          ['malformed', 2],
        ],
      );
      const [small, medium, large, malformed] = report.buckets;
      assert.ok(small!.bytes![1] <= medium!.bytes![0] && medium!.bytes![1] <= large!.bytes![0], 'buckets by payload size');
      assert.deepEqual([small!.processed, small!.quarantined], [4, 0]);
      assert.ok(large!.quarantined >= 1 && large!.errors.PERMANENT! >= 1, 'the largest payloads fail, with their class');
      assert.equal(malformed!.quarantined, 2);
      assert.deepEqual(Object.keys(malformed!.errors), ['PARSE_ERROR']);
      assert.deepEqual(await store.listRuns(), [], 'a sample records no run');
      assert.deepEqual(await store.listQuarantine({}), [], 'and no quarantine');
    } finally {
      await sluice.close();
      await store.close();
    }
  });

  it('a gradual rollout rises to the full concurrency while healthy, steps back when failures start, and records every step', async () => {
    const def = defineBackfill({
      name: 'gradual',
      source: items(6000),
      key: (i: { id: number }) => i.id,
      batchSize: 50,
      concurrency: 3,
      maxFailureRatio: 1,
      retry: { attempts: 1 },
      process(batch) {
        // Healthy at first; from item 3000 on, one item in ten fails.
        const bad = batch.find((i) => i.id > 3000 && i.id % 10 === 0);
        if (bad) throw new PermanentError(`item ${bad.id}`);
      },
    });
    const store = await openSqliteStore(join(dir, 'gradual.db'));
    const sluice = createSluice({ store, backfills: [def] });
    try {
      const outcome = await (await sluice.start('gradual', { gradual: { stepBatches: 5 } })).done;
      assert.equal(outcome.state, 'succeeded');
      const steps = (await store.listDecisions(outcome.runId, 1000))
        .filter((d) => d.kind === 'gradual')
        .reverse()
        .map((d) => d.reason);
      assert.match(steps[0]!, /^raised to 2 lane\(s\): failures 0\.0 % < 1\.0 %/);
      assert.ok(
        steps.some((s) => /^raised to 3 lane\(s\)/.test(s)),
        steps.join('\n'),
      );
      assert.ok(
        steps.some((s) => /^stepped back to 2 lane\(s\): failures \d+\.\d % ≥ 1\.0 %/.test(s)),
        steps.join('\n'),
      );
      const firstRaise = steps.findIndex((s) => s.startsWith('raised to 3'));
      const firstBack = steps.findIndex((s) => s.startsWith('stepped back'));
      assert.ok(firstRaise < firstBack, 'up while healthy, down once failures start');
    } finally {
      await sluice.close();
      await store.close();
    }
  });

  it("verify runs parity, uniqueness and coverage on the store's database, records the results and the report shows them", async () => {
    const path = join(dir, 'verify.db');
    const store = await openSqliteStore(path);
    await store.transaction(async (tx) => {
      await tx.sql.execute('CREATE TABLE raw (id INTEGER PRIMARY KEY)');
      await tx.sql.execute('CREATE TABLE normalized (id INTEGER, version INTEGER)');
      await tx.sql.executeMany(
        'INSERT INTO raw (id) VALUES (?)',
        Array.from({ length: 50 }, (_, i) => [i + 1]),
      );
    });
    const def = defineBackfill({
      name: 'etl',
      source: items(50),
      key: (i: { id: number }) => i.id,
      delivery: 'transactional',
      async process(batch, ctx) {
        await ctx.tx!.executeMany(
          'INSERT INTO normalized (id, version) VALUES (?, 1)',
          batch.map((i) => [i.id]),
        );
      },
      verify: [
        parity({ source: 'SELECT COUNT(*) FROM raw', target: 'SELECT COUNT(*) FROM normalized' }),
        uniqueness({ table: 'normalized', columns: ['id', 'version'] }),
        coverage({ table: 'raw', done: 'id IN (SELECT id FROM normalized)' }),
        {
          name: 'explodes',
          run: async () => {
            throw new Error('the target is unreachable');
          },
        },
      ],
    });
    const sluice = createSluice({ store, backfills: [def] });
    try {
      const outcome = await (await sluice.start('etl')).done;
      const results = await sluice.verify(outcome.runId, 'auditor');
      assert.deepEqual(
        results.map((r) => [r.check, r.passed, r.detail]),
        [
          ['parity', true, 'source 50, target 50'],
          ['unique normalized(id, version)', true, 'no duplicates'],
          ['coverage of raw', true, '50 of 50 (100.00 %; at least 100.00 % wanted)'],
          ['explodes', false, 'the check failed to run: the target is unreachable'],
        ],
      );
      await store.transaction((tx) => tx.sql.execute('INSERT INTO normalized (id, version) VALUES (7, 1)'));
      const again = await sluice.verify(outcome.runId, 'auditor');
      assert.deepEqual(
        again.slice(0, 2).map((r) => [r.passed, r.detail]),
        [
          [false, 'source 50, target 51 (+1)'],
          [false, '1 duplicated key(s)'],
        ],
      );
      const report = await buildRunReport(sluice, outcome.runId);
      assert.equal(report.verification.length, 8);
      assert.deepEqual(
        [report.verification[4]!.check, report.verification[4]!.passed, report.verification[4]!.actor],
        ['parity', false, 'auditor'],
      );
    } finally {
      await sluice.close();
      await store.close();
    }
  });
});
