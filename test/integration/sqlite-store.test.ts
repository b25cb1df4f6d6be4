import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { isTransientStoreError, StoreError } from '../../src/core/errors.js';
import type { RunOptions } from '../../src/core/run.js';
import type { NewRun, StoreTransaction } from '../../src/core/store.js';
import { SCHEMA_VERSION } from '../../src/stores/sqlite/migrations.js';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/stores/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';

const options: RunOptions = {
  batchSize: 100,
  concurrency: 1,
  maxFailureRatio: 0.01,
  retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
};
let sequence = 0;
function newRun(overrides: Partial<NewRun> = {}): NewRun {
  sequence += 1;
  return {
    id: `r_sqlite${String(sequence).padStart(4, '0')}`,
    backfill: 'specifics',
    params: {},
    options,
    createdBy: 'tester',
    reason: 'test',
    partitions: [
      { lower: null, upper: [10] },
      { lower: [10], upper: null },
    ],
    plannedItems: null,
    ...overrides,
  };
}
const zero = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };

/** A store on a fresh temp file, closed and removed after `body`. */
async function withStore(body: (store: SqliteStore, path: string) => Promise<void>, storeOptions: SqliteStoreOptions = {}): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, 'store.db');
  const store = await openSqliteStore(path, storeOptions);
  try {
    await body(store, path);
  } finally {
    await store.close();
    await cleanup();
  }
}

/** A promise with its resolver, to hold a transaction open until the test says so. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every callback already queued run (if a queued write were not waiting for the lock, it would run here). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('SQLite store: the file', () => {
  it('creates the file and its missing parent directories', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'a', 'b', 'c', 'store.db');
    const store = await openSqliteStore(path);
    assert.equal(store.location, path);
    assert.ok(existsSync(path));
    await store.close();
    await cleanup();
  });

  it('runs in WAL mode with synchronous = NORMAL, a busy timeout and foreign keys on', async () => {
    await withStore(async (store, path) => {
      const pragma = (tx: StoreTransaction, name: string) => tx.sql.query(`PRAGMA ${name}`).then((rows) => Object.values(rows[0]!)[0]);
      const values = await store.transaction(async (tx) => [
        await pragma(tx, 'journal_mode'),
        await pragma(tx, 'synchronous'),
        await pragma(tx, 'busy_timeout'),
        await pragma(tx, 'foreign_keys'),
      ]);
      assert.deepEqual(values, ['wal', 1, 5000, 1]);
      assert.ok(existsSync(`${path}-wal`), 'the write-ahead log is next to the file');
      const [mode] = await store.readConnection().query<{ journal_mode: string }>('PRAGMA journal_mode');
      assert.equal(mode?.journal_mode, 'wal');
    });
  });

  it('refuses a file that is not a SQLite database, names it, says what to do, and leaves it alone', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'notes.db');
    writeFileSync(path, 'hello');
    await assert.rejects(openSqliteStore(path), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, /is not a Sluice store: the file is not a SQLite database/);
      assert.match(error.hint ?? '', /move the file away, or pass `path` with another path/);
      assert.equal((error.cause as { code?: string }).code, 'SQLITE_NOTADB');
      return true;
    });
    assert.equal(readFileSync(path, 'utf8'), 'hello');
    assert.ok(!existsSync(`${path}-wal`));
    await cleanup();
  });

  it('says so when the path cannot be opened as a file', async () => {
    const { dir, cleanup } = await tempDir();
    await assert.rejects(
      openSqliteStore(dir),
      (error: unknown) => error instanceof StoreError && error.message.startsWith(`cannot open store ${dir}`),
    );
    await cleanup();
  });

  it('refuses a store written by a newer Sluice, saying to upgrade', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'future.db');
    await (await openSqliteStore(path)).close();
    const db = new Database(path);
    db.prepare("INSERT INTO sluice_schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')").run();
    db.close();
    await assert.rejects(
      openSqliteStore(path),
      (error: unknown) =>
        error instanceof StoreError &&
        /schema version 999, newer than this Sluice knows \(\d+\); upgrade Sluice/.test(error.message) &&
        /upgrade Sluice/.test(error.hint ?? ''),
    );
    await cleanup();
  });

  it('records its migrations once, and keeps all its tables under the sluice_ prefix', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'store.db');
    await (await openSqliteStore(path)).close();
    await (await openSqliteStore(path)).close();
    const db = new Database(path, { readonly: true });
    const migrations = db.prepare('SELECT version, name FROM sluice_schema_migrations ORDER BY version').all() as Array<{
      version: number;
      name: string;
    }>;
    assert.deepEqual(
      migrations.map((m) => m.version),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      'each version once, in order',
    );
    const names = db
      .prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    assert.ok(names.length >= 6);
    assert.deepEqual(
      names.filter((n) => !n.startsWith('sluice_')),
      [],
    );
    db.close();
    await cleanup();
  });

  it("opens a database holding the user's own tables, and refuses an empty file it did not create", async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'app.db');
    const db = new Database(path);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1), (2);');
    db.close();
    const store = await openSqliteStore(path);
    assert.deepEqual(await store.listRuns(), []);
    assert.deepEqual(await store.readConnection().query('SELECT id FROM users ORDER BY id'), [{ id: 1 }, { id: 2 }]);
    await store.close();
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    // SQLite would take it for an empty database; Sluice never leaves one (it links a new file into place).
    await assert.rejects(
      openSqliteStore(empty),
      (error: unknown) =>
        error instanceof StoreError &&
        error.message === `${empty} is an empty file (0 bytes), not a Sluice store; nothing was written to it` &&
        /delete it and Sluice creates the store there/.test(error.hint ?? ''),
    );
    assert.equal(readFileSync(empty).length, 0);
    const created = join(dir, 'created.db');
    await (await openSqliteStore(created)).close();
    assert.deepEqual(readdirSync(dir).sort(), ['app.db', 'created.db', 'empty.db'], 'no temporary file is left beside a created store');
    await cleanup();
  });

  it('several processes opening a new file at the same moment migrate it once', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'shared.db');
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const module = join(root, 'src', 'stores', 'sqlite', 'index.ts');
    // Each child loads the store module, says it is ready, and opens the store when told to: all at once.
    const script = `import { once } from 'node:events';
      import { openSqliteStore } from ${JSON.stringify(module)};
      process.stdout.write('ready\\n');
      await once(process.stdin, 'data');
      const store = await openSqliteStore(${JSON.stringify(path)});
      await store.createRun({ id: 'r_' + process.pid, backfill: 'b', params: {}, options: {}, createdBy: 'x', reason: 'y', partitions: [], plannedItems: null });
      await store.close();
      process.exit(0);`;
    const scriptPath = join(dir, 'open.mts');
    writeFileSync(scriptPath, script);
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', scriptPath], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const ready = once(child.stdout, 'data');
      const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
        child.on('close', (code) => resolve({ code, stderr })),
      );
      return { child, ready, exited };
    });
    await Promise.all(children.map((c) => c.ready));
    for (const { child } of children) child.stdin.write('go\n');
    const results = await Promise.all(children.map((c) => c.exited));
    assert.deepEqual(
      results,
      results.map(() => ({ code: 0, stderr: '' })),
    );
    const store = await openSqliteStore(path);
    assert.equal((await store.listRuns()).length, 4);
    await store.close();
    await cleanup();
  });
});

describe('SQLite store: clock, leases and timestamps', () => {
  it('stamps records with the injected clock and compares lease expiry strictly', async () => {
    let now = Date.parse('2026-03-01T00:00:00.000Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    const t0 = now;
    await withStore(
      async (store) => {
        const run = await store.createRun(newRun());
        assert.deepEqual([run.createdAt, run.updatedAt], [iso(t0), iso(t0)]);
        const lease = (await store.claimPartition(run.id, 'w1', 1000))!;
        assert.equal(lease.expiresAt, iso(t0 + 1000));
        now = t0 + 400;
        const running = await store.transitionRun(run.id, ['pending'], 'running', 'engine', 'go');
        assert.deepEqual([running?.startedAt, running?.updatedAt], [iso(t0 + 400), iso(t0 + 400)]);
        assert.equal(await store.renewLease(lease, 1000), true);
        assert.equal((await store.listPartitions(run.id))[0]!.leaseExpiresAt, iso(t0 + 1400));
        now = t0 + 600;
        await store.transaction((tx) =>
          tx.checkpoint({ lease, previousCursor: null, cursor: [1], done: false, delta: zero, leaseMs: 1000 }),
        );
        const [p] = await store.listPartitions(run.id);
        assert.deepEqual([p!.leaseExpiresAt, p!.updatedAt], [iso(t0 + 1600), iso(t0 + 600)], 'a checkpoint is a heartbeat');
        now = t0 + 1600;
        assert.equal((await store.claimPartition(run.id, 'w2', 1000))?.index, 1, 'a lease is live up to its expiry instant');
        now = t0 + 1601;
        const stolen = await store.claimPartition(run.id, 'w3', 1000);
        assert.deepEqual([stolen?.index, stolen?.fence, stolen?.expiresAt], [0, 2, iso(t0 + 2601)]);
        now = t0 + 5000;
        const finished = await store.transitionRun(run.id, ['running'], 'cancelled', 'op', 'stop');
        assert.equal(finished?.finishedAt, iso(t0 + 5000));
        assert.deepEqual(
          (await store.listTransitions(run.id)).map((t) => t.at),
          [iso(t0), iso(t0 + 400), iso(t0 + 5000)],
        );
      },
      { clock: () => now },
    );
  });

  it('lists runs created in the same millisecond in the order they were created, newest first', async () => {
    await withStore(
      async (store) => {
        const ids = ['r_c', 'r_a', 'r_b'];
        for (const id of ids) await store.createRun(newRun({ id }));
        assert.deepEqual(
          (await store.listRuns()).map((r) => r.id),
          ['r_b', 'r_a', 'r_c'],
        );
      },
      { clock: () => 1_800_000_000_000 },
    );
  });

  it('replayed entries without a partition move the counts of partition 0', async () => {
    await withStore(async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      await store.transaction((tx) =>
        tx.checkpoint({
          lease,
          previousCursor: null,
          cursor: [1],
          done: false,
          delta: { ...zero, received: 1, failed: 1, quarantined: 1 },
          leaseMs: 60_000,
        }),
      );
      await store.transaction((tx) =>
        tx.sql.execute(
          `INSERT INTO sluice_quarantine (run_id, backfill, partition_idx, item_key, error_class, message, payload, attempts, created_at, updated_at)
        VALUES (?, 'specifics', NULL, 'orphan', 'X', 'm', NULL, 1, 'now', 'now')`,
          [run.id],
        ),
      );
      const [entry] = await store.listQuarantine({ runId: run.id });
      assert.equal(entry?.partitionIndex, null);
      await store.transaction((tx) => tx.markReplayed(run.id, [entry!.id]));
      assert.deepEqual((await store.listPartitions(run.id))[0]!.counts, {
        received: 1,
        processed: 1,
        skipped: 0,
        failed: 0,
        quarantined: 0,
      });
    });
  });
});

describe('SQLite store: one writer, serialised', () => {
  it('a write issued while a batch transaction is open waits for it to end', async () => {
    await withStore(async (store) => {
      const run = await store.createRun(newRun());
      const hold = gate();
      let queued!: Promise<unknown>;
      const observed = store.transaction(async (tx) => {
        queued = Promise.all([
          store.setControl(run.id, { kind: 'pause', actor: 'op', reason: 'r', requestedAt: 'now' }),
          store.claimPartition(run.id, 'w', 60_000),
          store.transitionRun(run.id, ['pending'], 'running', 'engine', 'go'),
        ]);
        await settle();
        await hold.promise;
        return tx.sql.query<{ state: string; control: string | null }>('SELECT state, control FROM sluice_runs WHERE id = ?', [run.id]);
      });
      await settle();
      hold.open();
      assert.deepEqual(await observed, [{ state: 'pending', control: null }], 'nothing ran inside the open transaction');
      await queued;
      const after = (await store.getRun(run.id))!;
      assert.deepEqual([after.state, after.control?.kind], ['running', 'pause']);
    });
  });

  it('writes run in the order they were issued (FIFO)', async () => {
    await withStore(async (store) => {
      await store.transaction((tx) => tx.sql.execute('CREATE TABLE log (n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT)'));
      const run = await store.createRun(newRun({ partitions: Array.from({ length: 10 }, (_, i) => ({ lower: [i], upper: [i + 1] })) }));
      const hold = gate();
      const first = store.transaction(async (tx) => {
        await hold.promise;
        await tx.sql.execute("INSERT INTO log (what) VALUES ('tx0')");
      });
      const issued: Array<Promise<unknown>> = [];
      for (let i = 1; i <= 10; i++) {
        issued.push(
          i % 2 === 0
            ? store.transaction(async (tx) => {
                await Promise.resolve();
                await tx.sql.execute('INSERT INTO log (what) VALUES (?)', [`tx${i}`]);
              })
            : store.claimPartition(run.id, `w${i}`, 60_000),
        );
      }
      hold.open();
      await Promise.all([first, ...issued]);
      const claims = await store.listPartitions(run.id);
      // Claims in issue order got partitions 0, 1, 2, ...; transactions logged in issue order.
      assert.deepEqual(
        claims.filter((p) => p.leaseOwner).map((p) => p.leaseOwner),
        ['w1', 'w3', 'w5', 'w7', 'w9'],
      );
      assert.deepEqual(
        (await store.readConnection().query<{ what: string }>('SELECT what FROM log ORDER BY n')).map((r) => r.what),
        ['tx0', 'tx2', 'tx4', 'tx6', 'tx8', 'tx10'],
      );
    });
  });

  it('reads do not wait for an open transaction and see only committed state', async () => {
    await withStore(async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      await store.transaction(async (tx) => {
        await tx.checkpoint({
          lease,
          previousCursor: null,
          cursor: [5],
          done: false,
          delta: { ...zero, received: 5, processed: 4, quarantined: 1, failed: 1 },
          leaseMs: 60_000,
          ledger: { namespace: 'ns', keys: ['1'] },
          quarantine: [{ itemKey: '2', errorClass: 'X', message: 'm', payload: null, attempts: 1 }],
        });
        // Each of these would deadlock if it waited for the write lock this transaction holds.
        assert.deepEqual((await store.getRun(run.id))?.counts, zero);
        assert.equal((await store.listPartitions(run.id))[0]!.cursor, null);
        assert.equal((await store.deliveredKeys('ns', ['1'])).size, 0);
        assert.deepEqual(await store.listQuarantine({ runId: run.id }), []);
        assert.deepEqual(await store.quarantineSummary({}), []);
        assert.equal((await store.listRuns()).length, 1);
        assert.equal((await store.listTransitions(run.id)).length, 1);
        // The transaction itself sees its own writes.
        assert.equal((await tx.deliveredKeys('ns', ['1'])).size, 1);
      });
      assert.deepEqual((await store.getRun(run.id))?.counts.processed, 4);
    });
  });

  it('a StoreTransaction cannot be used once its transaction is over', async () => {
    await withStore(async (store) => {
      const run = await store.createRun(newRun());
      const lease = (await store.claimPartition(run.id, 'w', 60_000))!;
      const kept = await store.transaction(async (tx) => tx);
      await assert.rejects(
        kept.checkpoint({ lease, previousCursor: null, cursor: [1], done: false, delta: zero, leaseMs: 60_000 }),
        (e: unknown) => e instanceof StoreError && /transaction is over/.test(e.message),
      );
      await assert.rejects(
        kept.savepoint(async () => 1),
        StoreError,
      );
      assert.equal((await store.listPartitions(run.id))[0]!.cursor, null);
    });
  });
});

describe('SQLite store: errors and closing', () => {
  it('a database locked by another process is a transient StoreError carrying SQLITE_BUSY', async () => {
    await withStore(
      async (store, path) => {
        const run = await store.createRun(newRun());
        const other = new Database(path);
        other.exec('BEGIN IMMEDIATE');
        try {
          const busy = (e: unknown) =>
            e instanceof StoreError &&
            (e.cause as { code?: string }).code === 'SQLITE_BUSY' &&
            isTransientStoreError(e) &&
            e.message.includes(path);
          await assert.rejects(store.setControl(run.id, null), busy);
          await assert.rejects(store.claimPartition(run.id, 'w', 60_000), busy);
          let called = false;
          await assert.rejects(
            store.transaction(async () => (called = true)),
            busy,
          );
          assert.equal(called, false, 'work does not run without its transaction');
          assert.equal((await store.getRun(run.id))?.state, 'pending', 'reads still work');
        } finally {
          other.exec('COMMIT');
          other.close();
        }
        assert.equal((await store.claimPartition(run.id, 'w', 60_000))?.index, 0, 'the store works once the lock is gone');
      },
      { busyTimeoutMs: 10 },
    );
  });

  it('driver errors in store methods become StoreErrors; a duplicate run id says what failed', async () => {
    await withStore(async (store) => {
      await store.createRun(newRun({ id: 'r_dup' }));
      await assert.rejects(
        store.createRun(newRun({ id: 'r_dup' })),
        (e: unknown) =>
          e instanceof StoreError &&
          /UNIQUE constraint failed: sluice_runs.id/.test(e.message) &&
          (e.cause as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY',
      );
      assert.equal((await store.listRuns()).length, 1);
    });
  });

  it('close waits for the open transaction, is idempotent, and later calls fail clearly', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'store.db');
    const store = await openSqliteStore(path);
    await store.transaction((tx) => tx.sql.execute('CREATE TABLE t (id INTEGER)'));
    const hold = gate();
    const open = store.transaction(async (tx) => {
      await hold.promise;
      await tx.sql.execute('INSERT INTO t VALUES (1)');
    });
    const closing = store.close();
    const queuedAfterClose = store.setControl('r_x', null);
    hold.open();
    await open;
    await Promise.all([closing, store.close()]);
    await assert.rejects(queuedAfterClose, (e: unknown) => e instanceof StoreError && /is closed/.test(e.message));
    await assert.rejects(store.getRun('r_x'), /is closed/);
    await assert.rejects(store.listRuns(), /is closed/);
    await assert.rejects(
      store.transaction(async () => 1),
      /is closed/,
    );
    await assert.rejects(store.readConnection().query('SELECT 1'), /is closed/);
    await store.close();
    const again = await openSqliteStore(path);
    assert.deepEqual(
      await again.readConnection().query('SELECT id FROM t'),
      [{ id: 1 }],
      'the open transaction committed before the close',
    );
    await again.close();
    await cleanup();
  });
});
