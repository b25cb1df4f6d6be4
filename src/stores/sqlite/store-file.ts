import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { isSluiceError, messageOf, StoreError } from '../../core/errors.js';
import type { SqlConnection } from '../../core/sql.js';
import type { StoreDatabase } from '../../core/store.js';
import { migrate } from './migrations.js';
import { SqliteConnection } from './sqlite-connection.js';
import { assertStoreFileSound, type IntegrityCheck } from './store-file-check.js';
import { createStoreFile } from './store-file-create.js';
import { WriteLock } from './write-lock.js';
import { SQLITE_COLUMNS } from '../shared/column-decoding.js';
import { rowReaders } from '../shared/run-rows.js';

export interface SqliteStoreOptions {
  /** Milliseconds since the epoch, for timestamps and lease expiry; injected by tests. Default `Date.now`. */
  clock?: () => number;
  /** Older name of `clock`. */
  now?: () => number;
  /** How long a statement waits for another process's write lock before failing with SQLITE_BUSY. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * How an existing file is checked before it is opened for writing; a damaged one is refused and
   * never written to. Default `quick` (`PRAGMA quick_check`, about 0.5 s per 1M ledger rows).
   */
  integrityCheck?: IntegrityCheck;
}

/** One batch of the history (see `history`). */
const BATCH_INSERT = `INSERT INTO sluice_batches (run_id, backfill, partition_idx, worker, finished_ms, duration_ms, received, processed, skipped, failed, quarantined, retries)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * The embedded store's file, which every part of the store works on: one write connection,
 * serialised by a FIFO lock (a batch transaction spans the user's async `process`, so no statement
 * of another async lane may run on the connection while it is open), and one read connection that
 * sees the last committed state (WAL), so that status reads never wait for a batch. Its helpers say
 * how an operation uses them (`writing`, `reading`, `inTransaction`) and turn the driver's errors
 * into `StoreError`s.
 */
export class SqliteStoreFile implements StoreDatabase {
  readonly dialect = 'sqlite' as const;
  readonly location: string;
  readonly writer: Database.Database;
  readonly reader: Database.Database;
  readonly write: SqliteConnection;
  readonly read: SqliteConnection;
  readonly lock = new WriteLock();
  readonly now: () => number;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** True while a batch transaction is open (its `StoreTransaction` refuses to work outside it). */
  active = false;
  /**
   * Batch history rows not written yet: they ride along with a later checkpoint's transaction (at
   * least every second, every 32 batches, and with a partition's last batch), so that a batch's
   * commit does not pay for the history's table and index pages each time. Read methods, `close`
   * and those checkpoints write them; a crash loses at most a second of history, never a checkpoint.
   */
  readonly history: unknown[][] = [];
  historyWrittenAt = 0;
  readonly statements: Record<'begin' | 'commit' | 'rollback' | 'batch', Database.Statement>;
  private readonly sourceConnection: SqlConnection;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.location = resolve(path);
    this.now = options.clock ?? options.now ?? Date.now;
    const busyTimeout = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
    try {
      mkdirSync(dirname(this.location), { recursive: true });
    } catch (error) {
      throw new StoreError(`cannot create the directory of store ${this.location}: ${messageOf(error)}`, {
        hint: 'pass `path` with a path in a writable directory',
        cause: error,
      });
    }
    let writer: Database.Database | undefined;
    let reader: Database.Database | undefined;
    try {
      createStoreFile(this.location);
      assertStoreFileSound(this.location, options.integrityCheck ?? 'quick');
      writer = new Database(this.location);
      writer.pragma(`busy_timeout = ${busyTimeout}`);
      writer.pragma('journal_mode = WAL');
      writer.pragma('synchronous = NORMAL');
      writer.pragma('foreign_keys = ON');
      migrate(writer, this.location);
      reader = new Database(this.location);
      reader.pragma(`busy_timeout = ${busyTimeout}`);
      reader.pragma('query_only = ON');
      // Every commit of the writer resets this connection's page cache; memory-mapped reads make that cheap.
      reader.pragma('mmap_size = 268435456');
    } catch (error) {
      writer?.close();
      reader?.close();
      throw this.openError(error);
    }
    this.writer = writer;
    this.reader = reader;
    this.write = new SqliteConnection(writer);
    this.read = new SqliteConnection(reader);
    this.statements = {
      begin: writer.prepare('BEGIN IMMEDIATE'),
      commit: writer.prepare('COMMIT'),
      rollback: writer.prepare('ROLLBACK'),
      batch: writer.prepare(BATCH_INSERT),
    };
    const write = this.write;
    const lock = this.lock;
    const assertOpen = () => this.assertOpen();
    this.sourceConnection = {
      dialect: 'sqlite',
      query: (sql, params) => lock.run(() => (assertOpen(), write.querySync(sql, params))),
      execute: (sql, params) => lock.run(() => (assertOpen(), write.execute(sql, params))),
      executeMany: (sql, paramsList) => lock.run(() => (assertOpen(), write.executeMany(sql, paramsList))),
    };
  }

  /**
   * What sources read the user's tables through: the write connection, taken in turn with the
   * writes. It sees only committed data (no transaction is open while the lock is held) and shares
   * the writer's page cache, which the separate read connection loses at every commit of the
   * writer (one of the changes that took engine overhead up from 0.92×, measured with bench/engine-overhead.ts).
   * Like every Store method it must not be used inside `transaction(work)`: it would wait for the
   * transaction that waits for it. The store's own reads (`getRun`, `listPartitions`, …) use the
   * read connection and never wait.
   */
  readConnection(): SqlConnection {
    return this.sourceConnection;
  }

  async clockNow(): Promise<number> {
    return this.now();
  }

  /** Waits for writes already queued (an open batch transaction included), then closes both connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.lock.run(() => {
      try {
        if (this.history.length > 0) this.writer.transaction(() => this.writeHistory(this.now()))();
      } catch {
        // Closing anyway: the history is for reports and SLOs, the checkpoints are all committed.
      }
      this.closed = true;
      this.reader.close();
      this.writer.close();
    });
    return this.closing;
  }

  /** Writes the pending history rows in the open transaction. */
  writeHistory(now: number): void {
    for (const row of this.history) this.statements.batch.run(...row);
    this.history.length = 0;
    this.historyWrittenAt = now;
  }

  /** Writes the pending history rows in a transaction of their own, for a read that must see them. */
  async flushHistory(): Promise<void> {
    if (this.history.length === 0) return;
    await this.writing(() => this.writer.transaction(() => this.writeHistory(this.now()))());
  }

  /** Runs a synchronous write outside any batch transaction, in turn with the others. */
  writing<T>(work: () => T): Promise<T> {
    return this.lock.run(() => {
      this.assertOpen();
      try {
        return work();
      } catch (error) {
        throw this.fail(error);
      }
    });
  }

  /** Runs a synchronous read on the read connection; it never waits for the write lock. */
  reading<T>(work: () => T): T {
    this.assertOpen();
    try {
      return work();
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Runs one of the batch transaction's own operations: only while that transaction is open. */
  inTransaction<T>(work: () => T): T {
    this.assertInTransaction();
    try {
      return work();
    } catch (error) {
      throw this.fail(error);
    }
  }

  assertInTransaction(): void {
    if (!this.active)
      throw new StoreError(`store ${this.location}: the batch transaction is over; its StoreTransaction cannot be used any more`);
    // SQLite rolls a transaction back by itself on some errors (disk full, I/O): nothing may then run in autocommit mode.
    if (!this.writer.inTransaction)
      throw new StoreError(`store ${this.location}: SQLite rolled the batch transaction back after an error; it cannot continue`);
  }

  rollbackQuietly(): void {
    try {
      if (this.writer.inTransaction) this.statements.rollback.run();
    } catch {
      // The connection is left without a transaction either way; the caller's error is the one to report.
    }
  }

  /** Sluice's own errors pass through; the driver's become a StoreError carrying the original (SQLITE_BUSY …) as cause. */
  fail(error: unknown): Error {
    if (isSluiceError(error)) return error;
    return new StoreError(`store ${this.location}: ${messageOf(error)}`, { cause: error });
  }

  /** Now, as the ISO text the store's stamps are written in. */
  iso(): string {
    return new Date(this.now()).toISOString();
  }

  assertOpen(): void {
    if (this.closed) throw new StoreError(`store ${this.location} is closed`);
  }

  private openError(error: unknown): Error {
    if (isSluiceError(error)) return error;
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      return new StoreError(`${this.location} is not a Sluice store: the file is not a SQLite database (or it is corrupt)`, {
        hint: 'move the file away, or pass `path` with another path',
        cause: error,
      });
    }
    return new StoreError(`cannot open store ${this.location}: ${messageOf(error)}`, {
      hint: 'check that the path is a file you can read and write, or pass `path` with another path',
      cause: error,
    });
  }
}

/** The JSON path of a concurrency key inside `sluice_runs.keys` (names are quoted: they may hold dots). */
export function jsonPath(name: string): string {
  return `$."${name.replace(/"/g, '""')}"`;
}

/** The store's rows as Sluice's records (JSON as text, stamps as ISO text, lease times as ms). */
export const decode = rowReaders(SQLITE_COLUMNS);
