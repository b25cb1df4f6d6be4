import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openStore } from '../../src/cli/context.js';
import { ConfigError, StoreError, UsageError } from '../../src/core/errors.js';
import { createSluice, defineBackfill, iterable } from '../../src/index.js';
import { openPostgresStore, toPostgresPlaceholders } from '../../src/stores/postgres/index.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';

describe('PostgreSQL store specifics', () => {
  it('translates ? placeholders, leaving quoted text and comments alone', () => {
    assert.equal(toPostgresPlaceholders('SELECT ? , \'?\' , "a?" -- ?\n, ?'), 'SELECT $1 , \'?\' , "a?" -- ?\n, $2');
  });

  it('says clearly when the server cannot be reached, without the password', async () => {
    await assert.rejects(
      openPostgresStore({ connectionString: 'postgres://u:secret@127.0.0.1:1/none' }),
      (e: unknown) =>
        e instanceof StoreError &&
        /cannot open the PostgreSQL store at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/none/.test(e.message) &&
        !e.message.includes('secret'),
    );
  });

  it('runs the checkpoint as a named prepared statement, or unnamed when told to (poolers without prepared statements)', async () => {
    for (const preparedStatements of [true, false]) {
      const { schema, cleanup } = await testSchema('prep');
      // One connection: the session that ran the checkpoints is the one asked afterwards.
      const store = await openPostgresStore({ connectionString: TEST_PG, schema, poolSize: 1, preparedStatements });
      try {
        const def = defineBackfill<{ id: number }>({
          name: 'prep',
          source: iterable({
            from: (c: unknown) => Array.from({ length: Math.max(0, 30 - Number(c ?? 0)) }, (_, i) => ({ id: Number(c ?? 0) + i + 1 })),
            cursorOf: (i: { id: number }) => i.id,
          }),
          key: (i) => String(i.id),
          batchSize: 10,
          process: () => {},
        });
        const sluice = createSluice({ store, backfills: [def] });
        const outcome = await (await sluice.start('prep')).done;
        assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
        assert.equal(outcome.counts.processed, 30);
        await sluice.close();
        const [row] = await store
          .readConnection()
          .query<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'sluice_%'");
        assert.equal(row!.n > 0, preparedStatements, `named statements in the session: ${row!.n}`);
      } finally {
        await store.close();
        await cleanup();
      }
    }
  });

  it("takes the CLI's pool size, prepared-statement and async-commit switches from the environment, and says what is wrong with them", async () => {
    const names = ['SLUICE_PG_SCHEMA', 'SLUICE_PG_POOL_SIZE', 'SLUICE_PG_PREPARED', 'SLUICE_PG_ASYNC_COMMIT'] as const;
    const saved = names.map((name) => [name, process.env[name]] as const);
    try {
      for (const [name, bad] of [
        ['SLUICE_PG_POOL_SIZE', '0'],
        ['SLUICE_PG_POOL_SIZE', 'lots'],
        ['SLUICE_PG_PREPARED', 'maybe'],
        ['SLUICE_PG_ASYNC_COMMIT', 'sometimes'],
      ] as const) {
        process.env[name] = bad;
        await assert.rejects(
          openStore(TEST_PG),
          (e: unknown) => e instanceof UsageError && e.message.includes(`${name} must be`) && e.message.includes(`"${bad}"`),
        );
        delete process.env[name];
      }
      const { schema, cleanup } = await testSchema('env');
      Object.assign(process.env, {
        SLUICE_PG_SCHEMA: schema,
        SLUICE_PG_POOL_SIZE: '3',
        SLUICE_PG_PREPARED: 'false',
        SLUICE_PG_ASYNC_COMMIT: 'false',
      });
      const store = await openStore(TEST_PG);
      try {
        // The settings live on the store's schema (PostgresStoreSchema), which every part of the store works on.
        const opened = (store as unknown as { db: { pool: { options: { max: number } }; prepare: boolean; beginBatch: string } }).db;
        assert.deepEqual([opened.pool.options.max, opened.prepare, opened.beginBatch], [3, false, 'BEGIN']);
      } finally {
        await store.close();
        await cleanup();
      }
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('migrates once when several workers open the store together', async () => {
    const { schema, cleanup } = await testSchema('mig');
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ connectionString: TEST_PG, schema })));
    assert.deepEqual(await stores[0]!.listRuns(), []);
    await Promise.all(stores.map((s) => s.close()));
    await cleanup();
  });

  it('a claim at a full ramp does not open a partition beside an expired lease whose holder is committing a checkpoint', async () => {
    // The gradual rollout's over-ramp seen under CI load: the late holder's row is locked by its
    // checkpoint, the claim skips it (SKIP LOCKED) and, counting only live leases, took the next
    // pending partition; the checkpoint then renewed the late lease, and the run held two lanes at a ramp of one.
    const { schema, cleanup } = await testSchema('ramp');
    const store = await openPostgresStore({ connectionString: TEST_PG, schema });
    const client = new pg.Client({ connectionString: TEST_PG });
    await client.connect();
    try {
      const run = await store.createRun({
        id: 'r_ramp',
        backfill: 'ramp',
        params: {},
        options: { batchSize: 10, concurrency: 4, maxFailureRatio: 0, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } },
        createdBy: 'tester',
        reason: 'test',
        partitions: [
          { lower: null, upper: [1] },
          { lower: [1], upper: [2] },
          { lower: [2], upper: null },
        ],
        plannedItems: null,
        rollout: { canaryItems: null, gradual: {} },
      });
      const late = await store.claimPartitionWithin(run.id, 'late', -1, { keys: [] });
      assert.ok(late.kind === 'claimed');
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM "${schema}".sluice_partitions WHERE run_id = $1 AND idx = $2 FOR UPDATE`, [
        run.id,
        late.lease.index,
      ]);
      const other = await store.claimPartitionWithin(run.id, 'other', 60_000, { keys: [] });
      await client.query('COMMIT');
      await store.renewLease(late.lease, 60_000);
      assert.equal(other.kind, 'blocked');
      assert.deepEqual(
        (await store.listPartitions(run.id)).filter((p) => p.state === 'running').map((p) => p.leaseOwner),
        ['late'],
      );
    } finally {
      await client.end();
      await store.close();
      await cleanup();
    }
  });

  it("runs on the service's own pg.Pool, migrating through it and leaving it open when the store closes", async () => {
    const { schema, cleanup } = await testSchema('ownpool');
    const pool = new pg.Pool({ connectionString: TEST_PG, max: 3 });
    try {
      const store = await openPostgresStore({ pool, schema });
      assert.match(store.location, /^postgres:\/\/postgres@127\.0\.0\.1:5432\/test \(the service's pool\)$/);
      const def = defineBackfill<{ id: number }>({
        name: 'own-pool',
        source: iterable({
          from: (c: unknown) => Array.from({ length: Math.max(0, 25 - Number(c ?? 0)) }, (_, i) => ({ id: Number(c ?? 0) + i + 1 })),
          cursorOf: (i: { id: number }) => i.id,
        }),
        key: (i) => String(i.id),
        batchSize: 10,
        process: () => {},
      });
      const sluice = createSluice({ store, backfills: [def] });
      const outcome = await (await sluice.start('own-pool')).done;
      assert.equal(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.equal(outcome.counts.processed, 25);
      await sluice.close();
      await store.close();
      const { rows } = await pool.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM "${schema}".sluice_runs`);
      assert.equal(rows[0]!.n, 1, 'the pool is still open, and the run is in the schema');
      await assert.rejects(
        openPostgresStore({ pool, schema, connectionString: TEST_PG }),
        (e: unknown) => e instanceof ConfigError && /connectionString, searchPath and poolSize are the pool's/.test(e.message),
      );
      await assert.rejects(
        openPostgresStore({ schema }),
        (e: unknown) => e instanceof ConfigError && /needs a connectionString .* or the service's own pg\.Pool/.test(e.message),
      );
    } finally {
      await pool.end();
      await cleanup();
    }
  });
});
