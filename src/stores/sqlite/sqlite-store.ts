import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Counts } from '../../core/counts.js';
import type { Cursor, ItemKey } from '../../core/cursor.js';
import { CheckpointMovedError, isSluiceError, LeaseLostError, messageOf, NotFoundError, StoreError } from '../../core/errors.js';
import { partitionLimitReason, queuedBehind } from '../../core/concurrency.js';
import { NO_ROLLOUT, rampLimitReason, rampTakeover, withRollout } from '../../core/rollout.js';
import type { VerificationRecord } from '../../core/verify.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from '../../core/slo/alert-record.js';
import type { AlertState } from '../../core/slo/alert-state.js';
import type {
  ClaimedNotifications,
  NewNotification,
  OutboxClaim,
  OutboxRecord,
  OutboxSettlement,
  OutboxState,
} from '../../core/slo/alert-outbox.js';
import {
  type AlertEventRow,
  type AlertRow,
  type BatchRow,
  type OutboxRow,
  toAlert,
  toAlertEvent,
  toBatch,
  toOutbox,
  type TokenRow,
  toToken,
} from '../history-rows.js';
import type {
  BatchRecord,
  BatchWindow,
  TokenRecord,
  CanaryClaim,
  ClaimResult,
  ConcurrencyLimits,
  DecisionRecord,
  PartitionLease,
  PartitionRecord,
  PartitionState,
  QuarantineRecord,
  QuarantineStatus,
  RampMove,
  RolloutSettings,
  RunControl,
  RunOptions,
  RunRecord,
  StartResult,
  TransitionRecord,
} from '../../core/run.js';
import { assertTransition, type RunState } from '../../core/run-state.js';
import type { SqlConnection } from '../../core/sql.js';
import type {
  CheckpointSeen,
  CheckpointWrite,
  ClaimScope,
  NewRun,
  RunFilter,
  Store,
  StoreTransaction,
  TransactionOptions,
} from '../../core/store.js';
import { migrate } from './migrations.js';
import { SqliteConnection } from './sqlite-connection.js';
import { paramsKey } from '../../core/params-key.js';
import { assertStoreFileSound, type IntegrityCheck } from './store-file-check.js';
import { createStoreFile } from './store-file-create.js';
import { WriteLock } from './write-lock.js';

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

/** Opens (creating it and its directory when needed) the embedded store: one SQLite file in WAL mode. */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  return new SqliteStore(path, options);
}

/** A run with its counts summed over its partitions, in one aggregate query. */
const RUN_SELECT = `SELECT r.*, COALESCE(SUM(p.received), 0) AS c_received, COALESCE(SUM(p.processed), 0) AS c_processed,
    COALESCE(SUM(p.skipped), 0) AS c_skipped, COALESCE(SUM(p.failed), 0) AS c_failed,
    COALESCE(SUM(p.quarantined), 0) AS c_quarantined, COALESCE(SUM(p.batches), 0) AS c_batches
  FROM sluice_runs r LEFT JOIN sluice_partitions p ON p.run_id = r.id`;
const GET_RUN = `${RUN_SELECT} WHERE r.id = ? GROUP BY r.id`;

/**
 * The checkpoint's fenced UPDATE. It also reads, in the same statement, what the worker needs back:
 * the run's control request and state, and the partition's end (an idle lane may have split it).
 */
const CHECKPOINT = `UPDATE sluice_partitions SET cursor = ?, received = received + ?, processed = processed + ?,
    skipped = skipped + ?, failed = failed + ?, quarantined = quarantined + ?, batches = batches + 1,
    state = CASE WHEN ? THEN 'done' ELSE state END,
    lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END,
    lease_expires_at = CASE WHEN ? THEN NULL ELSE ? END, heartbeat_at = ?, updated_at = ?, canary_claim = 0
  WHERE run_id = ? AND idx = ? AND fence = ? AND cursor = ?
  RETURNING (SELECT control FROM sluice_runs WHERE id = run_id) AS control, (SELECT state FROM sluice_runs WHERE id = run_id) AS run_state, upper,
    (SELECT tuning FROM sluice_runs WHERE id = run_id) AS tuning, (SELECT ramp_lanes FROM sluice_runs WHERE id = run_id) AS ramp_lanes`;

/**
 * Ledger keys in one statement, the keys bound as one JSON array (no limit on their number).
 * Measured against a prepared single-row INSERT run once per key: for 1,000 keys in one
 * transaction, about 1.1 ms against 4–5 ms (median of 400 interleaved batches, SQLite 3.53).
 */
const BATCH_INSERT = `INSERT INTO sluice_batches (run_id, backfill, partition_idx, worker, finished_ms, duration_ms, received, processed, skipped, failed, quarantined, retries)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const LEDGER_INSERT = `INSERT INTO sluice_ledger (namespace, item_key, run_id, delivered_at)
  SELECT ?, value, ?, ? FROM json_each(?) WHERE true ON CONFLICT DO NOTHING`;

/** A key quarantined again (in the same run) updates its entry instead of adding a second one. */
const QUARANTINE_UPSERT = `INSERT INTO sluice_quarantine
    (run_id, backfill, partition_idx, item_key, error_class, message, payload, locator, attempts, status, created_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)
  ON CONFLICT (run_id, item_key) DO UPDATE SET error_class = excluded.error_class, message = excluded.message,
    payload = excluded.payload, locator = excluded.locator, attempts = sluice_quarantine.attempts + excluded.attempts,
    status = 'open', updated_at = excluded.updated_at`;

/**
 * A batch's canary claim settled, before its checkpoint zeroes it: what the batch did not use
 * returns to the run's budget. Fenced: a stale lease returns nothing (and its checkpoint fails).
 */
const CANARY_SETTLE = `UPDATE sluice_runs SET canary_left = canary_left
    + MAX(COALESCE((SELECT canary_claim FROM sluice_partitions WHERE run_id = ? AND idx = ? AND fence = ?), 0) - ?, 0)
  WHERE id = ? AND canary_left IS NOT NULL`;

const DELIVERED = 'SELECT item_key FROM sluice_ledger WHERE namespace = ? AND item_key IN (SELECT value FROM json_each(?))';

/**
 * The embedded store. One write connection, serialised by a FIFO lock (a batch transaction spans
 * the user's async `process`, so no statement of another async lane may run on the connection while
 * it is open), and one read connection that sees the last committed state (WAL), so that status
 * reads never wait for a batch.
 */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly location: string;
  private readonly writer: Database.Database;
  private readonly reader: Database.Database;
  private readonly write: SqliteConnection;
  private readonly read: SqliteConnection;
  private readonly lock = new WriteLock();
  private readonly now: () => number;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** True while a batch transaction is open (its `StoreTransaction` refuses to work outside it). */
  private active = false;
  /**
   * Batch history rows not written yet: they ride along with a later checkpoint's transaction (at
   * least every second, every 32 batches, and with a partition's last batch), so that a batch's
   * commit does not pay for the history's table and index pages each time. Read methods, `close`
   * and those checkpoints write them; a crash loses at most a second of history, never a checkpoint.
   */
  private readonly history: unknown[][] = [];
  private historyWrittenAt = 0;
  private savepoints = 0;
  /** Backfill names by run id (a run's backfill never changes): quarantine rows carry it. */
  private readonly backfills = new Map<string, string>();
  /** The batch transaction's API: one object, made once (the hot path allocates nothing for it). */
  private readonly tx: StoreTransaction;
  private readonly sourceConnection: SqlConnection;
  private readonly statements: Record<
    | 'begin'
    | 'commit'
    | 'rollback'
    | 'checkpoint'
    | 'canarySettle'
    | 'ledger'
    | 'quarantine'
    | 'deliveredWrite'
    | 'deliveredRead'
    | 'batch',
    Database.Statement
  >;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.location = resolve(path);
    this.now = options.clock ?? options.now ?? Date.now;
    const busyTimeout = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
    try {
      mkdirSync(dirname(this.location), { recursive: true });
    } catch (error) {
      throw new StoreError(`cannot create the directory of store ${this.location}: ${messageOf(error)}`, {
        hint: 'pass --db (or SLUICE_DB) with a path in a writable directory',
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
      checkpoint: writer.prepare(CHECKPOINT),
      canarySettle: writer.prepare(CANARY_SETTLE),
      ledger: writer.prepare(LEDGER_INSERT),
      quarantine: writer.prepare(QUARANTINE_UPSERT),
      deliveredWrite: writer.prepare(DELIVERED).pluck(),
      deliveredRead: reader.prepare(DELIVERED).pluck(),
      batch: writer.prepare(BATCH_INSERT),
    };
    this.tx = this.transactionApi();
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

  // ---- runs -------------------------------------------------------------------------------------

  async createRun(input: NewRun): Promise<RunRecord> {
    return this.writing(() => {
      this.writer.transaction(() => this.insertRun(input)).immediate();
      return toRun(this.write.prepare(GET_RUN).get(input.id) as RunRow);
    });
  }

  async createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }> {
    return this.writing(() => {
      // One writer (BEGIN IMMEDIATE): no other process can create a run between the lookup and the insert.
      const found = this.writer
        .transaction((): string | undefined => {
          const key = paramsKey(input.params.extra);
          const open = this.write
            .prepare(`SELECT id FROM sluice_runs WHERE backfill = ? AND params_key = ? AND state IN ('pending', 'running', 'paused')
          ORDER BY created_at DESC, rowid DESC LIMIT 1`)
            .get(input.backfill, key) as { id: string } | undefined;
          if (open) return open.id;
          if (options.orSucceeded) {
            const last = this.write
              .prepare(`SELECT id, state, json_extract(params, '$.since') AS since FROM sluice_runs WHERE backfill = ? AND params_key = ?
            ORDER BY created_at DESC, rowid DESC LIMIT 1`)
              .get(input.backfill, key) as { id: string; state: RunState; since: string | null } | undefined;
            if (last?.state === 'succeeded' && last.since === null) return last.id;
          }
          this.insertRun(input);
          return undefined;
        })
        .immediate();
      return { run: toRun(this.write.prepare(GET_RUN).get(found ?? input.id) as RunRow), created: found === undefined };
    });
  }

  /** Inside a write transaction: the run, its partitions and its first transition. */
  private insertRun(input: NewRun): void {
    const at = this.iso();
    const rollout = input.rollout ?? NO_ROLLOUT;
    this.write
      .prepare(`INSERT INTO sluice_runs (id, backfill, state, params, params_key, options, created_by, created_at, updated_at, reason, planned_items, keys,
        canary_items, canary_left, ramp_lanes)
      VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(
        input.id,
        input.backfill,
        JSON.stringify(input.params),
        paramsKey(input.params.extra),
        JSON.stringify(withRollout(input.options, rollout)),
        input.createdBy,
        at,
        at,
        input.reason,
        input.plannedItems,
        JSON.stringify(input.keys ?? {}),
        rollout.canaryItems,
        rollout.canaryItems,
        rollout.gradual ? 1 : null,
      );
    const insert = this.write.prepare(
      'INSERT INTO sluice_partitions (run_id, idx, lower, upper, label, child, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    input.partitions.forEach((p, idx) =>
      insert.run(input.id, idx, JSON.stringify(p.lower ?? null), JSON.stringify(p.upper ?? null), p.label ?? null, p.child ?? null, at),
    );
    this.insertTransition(input.id, null, 'pending', input.createdBy, input.reason, at);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.reading(() => {
      const row = this.read.prepare(GET_RUN).get(runId) as RunRow | undefined;
      return row ? toRun(row) : undefined;
    });
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.key !== undefined) {
      where.push('json_extract(r.keys, ?) = ?');
      params.push(jsonPath(filter.key.name), filter.key.value);
    }
    if (filter.backfill !== undefined) {
      where.push('r.backfill = ?');
      params.push(filter.backfill);
    }
    if (filter.params !== undefined) {
      where.push('r.params_key = ?');
      params.push(paramsKey(filter.params));
    }
    if (filter.states && filter.states.length > 0) {
      where.push('r.state IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.states));
    }
    // Newest first; runs created in the same millisecond in the order they were created.
    const sql = `${RUN_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY r.id ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?`;
    return this.reading(() => (this.read.prepare(sql).all(...params, filter.limit ?? 100) as RunRow[]).map(toRun));
  }

  async transitionRun(
    runId: string,
    from: readonly RunState[],
    to: RunState,
    actor: string,
    reason: string,
  ): Promise<RunRecord | undefined> {
    return this.writing(() =>
      this.writer
        .transaction(() => {
          const row = this.write.prepare('SELECT state FROM sluice_runs WHERE id = ?').get(runId) as { state: RunState } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
          if (!from.includes(row.state)) return undefined;
          return this.applyTransition(runId, row.state, to, actor, reason);
        })
        .immediate(),
    );
  }

  async startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult> {
    return this.writing(() =>
      // One writer: nothing can start another run between the count and the transition.
      this.writer
        .transaction((): StartResult => {
          const row = this.write.prepare('SELECT state FROM sluice_runs WHERE id = ?').get(runId) as { state: RunState } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
          if (!from.includes(row.state)) return { kind: 'unchanged' };
          for (const key of limits.keys) {
            if (key.runs === undefined) continue;
            const holders = this.write
              .prepare(
                `SELECT id FROM sluice_runs WHERE json_extract(keys, ?) = ? AND state = 'running' AND id <> ? ORDER BY started_at, id`,
              )
              .all(jsonPath(key.name), key.value, runId) as Array<{ id: string }>;
            if (holders.length >= key.runs) return queuedBehind(key, holders[0]!.id, holders.length);
          }
          return { kind: 'started', run: this.applyTransition(runId, row.state, 'running', actor, reason) };
        })
        .immediate(),
    );
  }

  /** Inside a write transaction: moves the run from `from` to `to` and records the transition. */
  private applyTransition(runId: string, from: RunState, to: RunState, actor: string, reason: string): RunRecord {
    assertTransition(runId, from, to);
    const at = this.iso();
    const ends = to === 'succeeded' || to === 'failed' || to === 'cancelled';
    const clearsControl = ends || to === 'paused';
    this.write
      .prepare(`UPDATE sluice_runs SET state = ?, reason = ?, updated_at = ?,
        started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, ?) ELSE started_at END,
        finished_at = CASE WHEN ? THEN ? ELSE NULL END,
        control = CASE WHEN ? THEN NULL ELSE control END
      WHERE id = ?`)
      .run(to, reason, at, to, at, ends ? 1 : 0, at, clearsControl ? 1 : 0, runId);
    this.insertTransition(runId, from, to, actor, reason, at);
    // Read back in the same transaction: the record is the state this transition made.
    return toRun(this.write.prepare(GET_RUN).get(runId) as RunRow);
  }

  async listTransitions(runId: string): Promise<TransitionRecord[]> {
    return this.reading(() =>
      (this.read.prepare('SELECT * FROM sluice_transitions WHERE run_id = ? ORDER BY id').all(runId) as TransitionRow[]).map((r) => ({
        runId: r.run_id,
        from: r.from_state,
        to: r.to_state,
        actor: r.actor,
        reason: r.reason,
        at: r.at,
      })),
    );
  }

  async updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord> {
    return this.writing(() =>
      this.writer
        .transaction(() => {
          const row = this.write.prepare('SELECT options FROM sluice_runs WHERE id = ?').get(runId) as { options: string } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
          const options = { ...(JSON.parse(row.options) as RunOptions), ...patch };
          this.write
            .prepare('UPDATE sluice_runs SET options = ?, tuning = tuning + 1, updated_at = ? WHERE id = ?')
            .run(JSON.stringify(options), this.iso(), runId);
          return toRun(this.write.prepare(GET_RUN).get(runId) as RunRow);
        })
        .immediate(),
    );
  }

  async recordDecision(runId: string, decision: { worker: string; kind: string; reason: string; settings: object }): Promise<void> {
    await this.writing(() =>
      this.write
        .prepare('INSERT INTO sluice_decisions (run_id, worker, kind, reason, settings, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(runId, decision.worker, decision.kind, decision.reason, JSON.stringify(decision.settings), this.iso()),
    );
  }

  async listDecisions(runId: string, limit = 50): Promise<DecisionRecord[]> {
    return this.reading(() =>
      (
        this.read.prepare('SELECT * FROM sluice_decisions WHERE run_id = ? ORDER BY id DESC LIMIT ?').all(runId, limit) as Array<{
          id: number;
          run_id: string;
          worker: string;
          kind: string;
          reason: string;
          settings: string;
          at: string;
        }>
      ).map((r) => ({
        id: r.id,
        runId: r.run_id,
        worker: r.worker,
        kind: r.kind,
        reason: r.reason,
        settings: JSON.parse(r.settings) as Record<string, unknown>,
        at: r.at,
      })),
    );
  }

  async setControl(runId: string, control: RunControl | null): Promise<void> {
    const changes = await this.writing(
      () =>
        this.write
          .prepare('UPDATE sluice_runs SET control = ?, updated_at = ? WHERE id = ?')
          .run(control ? JSON.stringify(control) : null, this.iso(), runId).changes,
    );
    if (changes === 0) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
  }

  async setPlannedItems(runId: string, plannedItems: number): Promise<boolean> {
    return this.writing(
      () =>
        this.write
          .prepare('UPDATE sluice_runs SET planned_items = ?, updated_at = ? WHERE id = ? AND planned_items IS NULL')
          .run(plannedItems, this.iso(), runId).changes > 0,
    );
  }

  // ---- rollout budgets of the whole run --------------------------------------------------------

  async setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord> {
    return this.writing(() =>
      this.writer
        .transaction(() => {
          const row = this.write.prepare('SELECT options FROM sluice_runs WHERE id = ?').get(runId) as { options: string } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
          const options = withRollout(JSON.parse(row.options) as RunOptions, rollout);
          this.write
            .prepare('UPDATE sluice_runs SET options = ?, canary_items = ?, canary_left = ?, ramp_lanes = ?, updated_at = ? WHERE id = ?')
            .run(JSON.stringify(options), rollout.canaryItems, rollout.canaryItems, rollout.gradual ? 1 : null, this.iso(), runId);
          this.write.prepare('UPDATE sluice_partitions SET canary_claim = 0 WHERE run_id = ? AND canary_claim <> 0').run(runId);
          return toRun(this.write.prepare(GET_RUN).get(runId) as RunRow);
        })
        .immediate(),
    );
  }

  async claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim> {
    return this.writing(() =>
      // One writer: no other claim or checkpoint comes between reading the budget and taking from it.
      this.writer
        .transaction((): CanaryClaim => {
          const now = this.now();
          const own = this.write
            .prepare(`SELECT canary_claim FROM sluice_partitions WHERE run_id = ? AND idx = ? AND fence = ? AND state = 'running'`)
            .get(lease.runId, lease.index, lease.fence) as { canary_claim: number } | undefined;
          if (!own) throw new LeaseLostError(lease.runId, lease.index, lease.fence);
          const run = this.write.prepare('SELECT canary_left FROM sluice_runs WHERE id = ?').get(lease.runId) as
            | { canary_left: number | null }
            | undefined;
          if (!run || run.canary_left === null) return { granted: want, inFlight: 0 };
          // Claims no live lease holds any more (a worker that died mid-batch) return; a lease that
          // merely expired is revoked with them, so that its holder, if it wakes, cannot commit.
          const orphaned = `run_id = ? AND idx <> ? AND canary_claim > 0 AND NOT (state = 'running' AND lease_expires_at >= ?)`;
          const { n: returned } = this.write
            .prepare(`SELECT COALESCE(SUM(canary_claim), 0) AS n FROM sluice_partitions WHERE ${orphaned}`)
            .get(lease.runId, lease.index, now) as { n: number };
          if (returned > 0) {
            this.write
              .prepare(`UPDATE sluice_partitions SET canary_claim = 0, updated_at = ?,
              fence = CASE WHEN state = 'running' THEN fence + 1 ELSE fence END,
              lease_owner = CASE WHEN state = 'running' THEN NULL ELSE lease_owner END,
              lease_expires_at = CASE WHEN state = 'running' THEN NULL ELSE lease_expires_at END,
              state = CASE WHEN state = 'running' THEN 'pending' ELSE state END
            WHERE ${orphaned}`)
              .run(new Date(now).toISOString(), lease.runId, lease.index, now);
          }
          // The partition's own earlier claim (a batch that did not commit) returns first.
          const available = run.canary_left + returned + own.canary_claim;
          const granted = Math.min(want, available);
          this.write.prepare('UPDATE sluice_runs SET canary_left = ? WHERE id = ?').run(available - granted, lease.runId);
          this.write
            .prepare('UPDATE sluice_partitions SET canary_claim = ? WHERE run_id = ? AND idx = ?')
            .run(granted, lease.runId, lease.index);
          const { n: inFlight } = this.write
            .prepare('SELECT COALESCE(SUM(canary_claim), 0) AS n FROM sluice_partitions WHERE run_id = ? AND idx <> ?')
            .get(lease.runId, lease.index) as { n: number };
          return { granted, inFlight };
        })
        .immediate(),
    );
  }

  async moveRamp(runId: string, move: RampMove): Promise<boolean> {
    return this.writing(() =>
      this.writer
        .transaction(() => {
          const at = this.iso();
          const moved =
            this.write
              .prepare('UPDATE sluice_runs SET ramp_lanes = ?, updated_at = ? WHERE id = ? AND ramp_lanes = ?')
              .run(move.to, at, runId, move.from).changes > 0;
          if (moved) {
            const { decision } = move;
            this.write
              .prepare('INSERT INTO sluice_decisions (run_id, worker, kind, reason, settings, at) VALUES (?, ?, ?, ?, ?, ?)')
              .run(runId, decision.worker, decision.kind, decision.reason, JSON.stringify(decision.settings), at);
          }
          return moved;
        })
        .immediate(),
    );
  }

  // ---- partitions and leases ------------------------------------------------------------------

  async listPartitions(runId: string): Promise<PartitionRecord[]> {
    return this.reading(() =>
      (this.read.prepare('SELECT * FROM sluice_partitions WHERE run_id = ? ORDER BY idx').all(runId) as PartitionRow[]).map(toPartition),
    );
  }

  async clockNow(): Promise<number> {
    return this.now();
  }

  async claimPartition(runId: string, owner: string, leaseMs: number, scope: ClaimScope = {}): Promise<PartitionLease | undefined> {
    return this.writing(() => this.claimNow(runId, owner, leaseMs, scope));
  }

  async claimPartitionWithin(
    runId: string,
    owner: string,
    leaseMs: number,
    limits: ConcurrencyLimits,
    scope: ClaimScope = {},
  ): Promise<ClaimResult> {
    return this.writing((): ClaimResult => {
      // One writer: the counts cannot change between reading them and claiming.
      const now = this.now();
      for (const key of limits.keys) {
        if (key.partitions === undefined) continue;
        const { n } = this.write
          .prepare(`SELECT COUNT(*) AS n FROM sluice_partitions p JOIN sluice_runs r ON r.id = p.run_id
            WHERE p.state = 'running' AND p.lease_expires_at >= ? AND json_extract(r.keys, ?) = ?`)
          .get(now, jsonPath(key.name), key.value) as { n: number };
        if (n >= key.partitions) return { kind: 'blocked', reason: partitionLimitReason(`${key.name}=${key.value}`, n, key.partitions) };
      }
      if (limits.backfillPartitions !== undefined) {
        const { n, backfill } = (this.write
          .prepare(`SELECT COUNT(p.run_id) AS n, b.backfill AS backfill FROM (SELECT backfill FROM sluice_runs WHERE id = ?) b
            LEFT JOIN sluice_runs r ON r.backfill = b.backfill
            LEFT JOIN sluice_partitions p ON p.run_id = r.id AND p.state = 'running' AND p.lease_expires_at >= ?
            GROUP BY b.backfill`)
          .get(runId, now) as { n: number; backfill: string }) ?? { n: 0, backfill: '' };
        if (n >= limits.backfillPartitions)
          return { kind: 'blocked', reason: partitionLimitReason(`backfill ${backfill}`, n, limits.backfillPartitions) };
      }
      const ramp = this.write.prepare('SELECT ramp_lanes FROM sluice_runs WHERE id = ?').get(runId) as
        | { ramp_lanes: number | null }
        | undefined;
      if (ramp && ramp.ramp_lanes !== null) {
        // Every leased partition holds a lane, its lease expired or not (see rampTakeover).
        const { n } = this.write
          .prepare(`SELECT COUNT(*) AS n FROM sluice_partitions WHERE run_id = ? AND state = 'running'`)
          .get(runId) as { n: number };
        if (n >= ramp.ramp_lanes) {
          const orphan = this.claimNow(runId, owner, leaseMs, rampTakeover(scope));
          return orphan ? { kind: 'claimed', lease: orphan } : { kind: 'blocked', reason: rampLimitReason(n, ramp.ramp_lanes) };
        }
      }
      const lease = this.claimNow(runId, owner, leaseMs, scope);
      return lease ? { kind: 'claimed', lease } : { kind: 'none' };
    });
  }

  /**
   * Under the write lock: one statement picks the partition and leases it, so no other writer can
   * come between. Run to completion (`all`, not `get`): in autocommit mode the statement commits
   * when it finishes, and `get` returns the RETURNING row before that, dropping a failed commit's
   * error (a full disk: the lease was never written, and a lane claimed it again and again).
   */
  private claimNow(runId: string, owner: string, leaseMs: number, scope: ClaimScope): PartitionLease | undefined {
    const now = this.now();
    const expires = now + leaseMs;
    const [row] = this.write
      .prepare(`UPDATE sluice_partitions SET state = 'running', fence = fence + 1, lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, updated_at = ?
        WHERE run_id = ? AND idx = (
          SELECT idx FROM sluice_partitions WHERE run_id = ?
             AND ((state = 'pending' AND NOT ?) OR (state = 'running' AND COALESCE(lease_expires_at, 0) < ?))
           ORDER BY idx LIMIT 1)
        RETURNING idx, fence`)
      .all(owner, expires, now, new Date(now).toISOString(), runId, runId, scope.orphansOnly ? 1 : 0, now) as Array<{
      idx: number;
      fence: number;
    }>;
    return row ? { runId, index: row.idx, fence: row.fence, owner, expiresAt: new Date(expires).toISOString() } : undefined;
  }

  async renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean> {
    return this.writing(() => {
      const now = this.now();
      return (
        this.write
          .prepare(
            `UPDATE sluice_partitions SET lease_expires_at = ?, heartbeat_at = ?, updated_at = ? WHERE run_id = ? AND idx = ? AND fence = ? AND state = 'running'`,
          )
          .run(now + leaseMs, now, new Date(now).toISOString(), lease.runId, lease.index, lease.fence).changes > 0
      );
    });
  }

  async releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean> {
    return this.writing(
      () =>
        this.write
          .prepare(`UPDATE sluice_partitions SET state = ?, lease_owner = NULL, lease_expires_at = NULL, error = ?, updated_at = ?
          WHERE run_id = ? AND idx = ? AND fence = ?`)
          .run(state, error ?? null, this.iso(), lease.runId, lease.index, lease.fence).changes > 0,
    );
  }

  async splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined> {
    return this.writing(() =>
      this.writer
        .transaction(() => {
          const row = this.write
            .prepare(
              `SELECT upper, child FROM sluice_partitions WHERE run_id = ? AND idx = ? AND batches <= ? AND upper = ? AND state IN ('pending', 'running')`,
            )
            .get(runId, index, observed.batches + 1, JSON.stringify(observed.upper ?? null)) as
            | { upper: string; child: string | null }
            | undefined;
          if (!row) return undefined;
          const point = JSON.stringify(at ?? null);
          const next = (this.write.prepare('SELECT MAX(idx) + 1 AS n FROM sluice_partitions WHERE run_id = ?').get(runId) as { n: number })
            .n;
          const now = this.iso();
          this.write
            .prepare('UPDATE sluice_partitions SET upper = ?, updated_at = ? WHERE run_id = ? AND idx = ?')
            .run(point, now, runId, index);
          this.write
            .prepare(
              'INSERT INTO sluice_partitions (run_id, idx, lower, upper, label, child, split_from, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            )
            .run(runId, next, point, row.upper, label, row.child, index, now);
          return next;
        })
        .immediate(),
    );
  }

  async expireLeases(isDead: (owner: string) => boolean): Promise<number> {
    return this.writing(() => {
      const owners = this.write
        .prepare(`SELECT DISTINCT lease_owner FROM sluice_partitions WHERE state = 'running' AND lease_owner IS NOT NULL`)
        .all() as Array<{ lease_owner: string }>;
      const expire = this.write.prepare(`UPDATE sluice_partitions SET lease_expires_at = 0 WHERE state = 'running' AND lease_owner = ?`);
      let expired = 0;
      for (const { lease_owner: owner } of owners) if (isDead(owner)) expired += expire.run(owner).changes;
      return expired;
    });
  }

  async resetFailedPartitions(runId: string): Promise<number> {
    return this.writing(
      () =>
        this.write
          .prepare(`UPDATE sluice_partitions SET state = 'pending', error = NULL, updated_at = ? WHERE run_id = ? AND state = 'failed'`)
          .run(this.iso(), runId).changes,
    );
  }

  // ---- batches --------------------------------------------------------------------------------

  /**
   * Takes the write lock, `BEGIN IMMEDIATE`, awaits `work`, then `COMMIT` (or `ROLLBACK` when work
   * throws or `rollback` is set). Errors of `work` (the user's included) pass through unchanged;
   * the store's own failures (BEGIN, COMMIT) are `StoreError`s with the driver's error as cause.
   */
  async transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.lock.run(async () => {
      this.assertOpen();
      try {
        this.statements.begin.run();
      } catch (error) {
        throw this.fail(error);
      }
      this.active = true;
      try {
        let result: T;
        try {
          result = await work(this.tx);
        } catch (error) {
          this.rollbackQuietly();
          throw error;
        }
        try {
          (options.rollback ? this.statements.rollback : this.statements.commit).run();
        } catch (error) {
          this.rollbackQuietly();
          throw this.fail(error);
        }
        return result;
      } finally {
        this.active = false;
      }
    });
  }

  async deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    return this.reading(() => delivered(this.statements.deliveredRead, namespace, keys));
  }

  private transactionApi(): StoreTransaction {
    return {
      sql: this.write,
      savepoint: async <T>(work: () => Promise<T>) => {
        const name = `sluice_sp_${++this.savepoints}`;
        this.inTransaction(() => this.writer.exec(`SAVEPOINT ${name}`));
        let result: T;
        try {
          result = await work();
        } catch (error) {
          // Undo only this savepoint's writes; if SQLite already rolled back the whole transaction, COMMIT will say so.
          if (this.writer.inTransaction) {
            try {
              this.writer.exec(`ROLLBACK TO ${name}`);
              this.writer.exec(`RELEASE ${name}`);
            } catch {
              // the original error is the one that matters
            }
          }
          throw error;
        }
        this.inTransaction(() => this.writer.exec(`RELEASE ${name}`));
        return result;
      },
      deliveredKeys: async (namespace, keys) => this.inTransaction(() => delivered(this.statements.deliveredWrite, namespace, keys)),
      // The hot path: the same guard and error wrapping as inTransaction(), without allocating a closure.
      checkpoint: async (write) => {
        this.assertInTransaction();
        try {
          return this.checkpoint(write);
        } catch (error) {
          throw this.fail(error);
        }
      },
      markReplayed: async (runId, ids, ledger) => this.inTransaction(() => this.markReplayed(runId, ids, ledger)),
      recordDelivered: async (runId, ledger) =>
        this.inTransaction(() => {
          if (ledger.keys.length > 0) this.statements.ledger.run(ledger.namespace, runId, this.iso(), JSON.stringify(ledger.keys));
        }),
      recordReplayFailure: async (id, errorClass, message) =>
        this.inTransaction(() => {
          this.write
            .prepare('UPDATE sluice_quarantine SET attempts = attempts + 1, error_class = ?, message = ?, updated_at = ? WHERE id = ?')
            .run(errorClass, message, this.iso(), id);
        }),
    };
  }

  /**
   * The per-batch hot path: the fenced UPDATE first (which also reads control, run state and the
   * partition's end), then one ledger INSERT and the quarantine rows. Nothing else.
   */
  private checkpoint(write: CheckpointWrite): CheckpointSeen {
    const { lease, delta } = write;
    const now = this.now();
    const at = new Date(now).toISOString();
    const done = write.done ? 1 : 0;
    // Before the checkpoint zeroes the partition's claim: it reads what the batch claimed.
    if (write.canaryUsed !== undefined)
      this.statements.canarySettle.run(lease.runId, lease.index, lease.fence, write.canaryUsed, lease.runId);
    const updated = this.statements.checkpoint.get(
      JSON.stringify(write.cursor ?? null),
      delta.received,
      delta.processed,
      delta.skipped,
      delta.failed,
      delta.quarantined,
      done,
      done,
      done,
      now + write.leaseMs,
      now,
      at,
      lease.runId,
      lease.index,
      lease.fence,
      JSON.stringify(write.previousCursor ?? null),
    ) as { control: string | null; run_state: RunState; upper: string; tuning: number; ramp_lanes: number | null } | undefined;
    if (!updated) throw this.checkpointMiss(lease);
    if (write.ledger && write.ledger.keys.length > 0) {
      this.statements.ledger.run(write.ledger.namespace, lease.runId, at, JSON.stringify(write.ledger.keys));
    }
    if (write.stats) {
      const { stats } = write;
      this.history.push([
        lease.runId,
        this.backfillOf(lease.runId),
        lease.index,
        stats.worker,
        stats.finishedAtMs,
        Math.max(0, Math.round(stats.finishedAtMs - stats.startedAtMs)),
        delta.received,
        delta.processed,
        delta.skipped,
        delta.failed,
        delta.quarantined,
        stats.retries ? JSON.stringify(stats.retries) : null,
      ]);
      if (write.done || this.history.length >= 32 || now - this.historyWrittenAt >= 1000) this.writeHistory(now);
    }
    if (write.quarantine && write.quarantine.length > 0) {
      const backfill = this.backfillOf(lease.runId);
      for (const q of write.quarantine) {
        this.statements.quarantine.run(
          lease.runId,
          backfill,
          lease.index,
          q.itemKey,
          q.errorClass,
          q.message,
          q.payload,
          q.locator === undefined ? null : JSON.stringify(q.locator),
          q.attempts,
          at,
          at,
        );
      }
    }
    return {
      control: updated.control === null ? null : (JSON.parse(updated.control) as RunControl),
      runState: updated.run_state,
      upper: JSON.parse(updated.upper) as Cursor,
      tuning: updated.tuning,
      rampLanes: updated.ramp_lanes,
    };
  }

  /** Why a fenced checkpoint matched no row: the lease went to someone else, or the cursor moved on. */
  private checkpointMiss(lease: PartitionLease): Error {
    const row = this.write.prepare('SELECT fence FROM sluice_partitions WHERE run_id = ? AND idx = ?').get(lease.runId, lease.index) as
      | { fence: number }
      | undefined;
    return row && row.fence === lease.fence
      ? new CheckpointMovedError(lease.runId, lease.index)
      : new LeaseLostError(lease.runId, lease.index, lease.fence);
  }

  private backfillOf(runId: string): string {
    let backfill = this.backfills.get(runId);
    if (backfill === undefined) {
      const row = this.write.prepare('SELECT backfill FROM sluice_runs WHERE id = ?').get(runId) as { backfill: string } | undefined;
      if (!row) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
      backfill = row.backfill;
      if (this.backfills.size > 1000) this.backfills.clear();
      this.backfills.set(runId, backfill);
    }
    return backfill;
  }

  private markReplayed(runId: string, ids: readonly number[], ledger?: { namespace: string; keys: readonly ItemKey[] }): void {
    const at = this.iso();
    const mark = this.write.prepare(`UPDATE sluice_quarantine SET status = 'replayed', attempts = attempts + 1, updated_at = ?
        WHERE id = ? AND run_id = ? AND status = 'open' RETURNING partition_idx`);
    const perPartition = new Map<number, number>();
    for (const id of ids) {
      const row = mark.get(at, id, runId) as { partition_idx: number | null } | undefined;
      if (row) perPartition.set(row.partition_idx ?? 0, (perPartition.get(row.partition_idx ?? 0) ?? 0) + 1);
    }
    const move =
      this.write.prepare(`UPDATE sluice_partitions SET quarantined = quarantined - ?, failed = MAX(failed - ?, 0), processed = processed + ?, updated_at = ?
        WHERE run_id = ? AND idx = ?`);
    for (const [idx, n] of perPartition) move.run(n, n, n, at, runId, idx);
    if (ledger && ledger.keys.length > 0) this.statements.ledger.run(ledger.namespace, runId, at, JSON.stringify(ledger.keys));
  }

  // ---- quarantine -----------------------------------------------------------------------------

  async listQuarantine(filter: {
    runId?: string;
    backfill?: string;
    status?: QuarantineStatus;
    errorClass?: string;
    limit?: number;
    afterId?: number;
  }): Promise<QuarantineRecord[]> {
    const where = ['id > ?'];
    const params: unknown[] = [filter.afterId ?? 0];
    for (const [column, value] of [
      ['run_id', filter.runId],
      ['backfill', filter.backfill],
      ['status', filter.status],
      ['error_class', filter.errorClass],
    ] as const) {
      if (value !== undefined) {
        where.push(`${column} = ?`);
        params.push(value);
      }
    }
    return this.reading(() =>
      (
        this.read
          .prepare(`SELECT * FROM sluice_quarantine WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
          .all(...params, filter.limit ?? 100) as QuarantineRow[]
      ).map(toQuarantine),
    );
  }

  async quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    const where = ["status = 'open'"];
    const params: unknown[] = [];
    if (filter.runId !== undefined) {
      where.push('run_id = ?');
      params.push(filter.runId);
    }
    if (filter.backfill !== undefined) {
      where.push('backfill = ?');
      params.push(filter.backfill);
    }
    return this.reading(
      () =>
        this.read
          .prepare(`SELECT error_class AS errorClass, COUNT(*) AS count FROM sluice_quarantine WHERE ${where.join(' AND ')}
          GROUP BY error_class ORDER BY count DESC, error_class`)
          .all(...params) as Array<{ errorClass: string; count: number }>,
    );
  }

  // ---- batch history and SLO alerts -----------------------------------------------------------

  /** Writes the pending history rows in the open transaction. */
  private writeHistory(now: number): void {
    for (const row of this.history) this.statements.batch.run(...row);
    this.history.length = 0;
    this.historyWrittenAt = now;
  }

  /** Writes the pending history rows in a transaction of their own, for a read that must see them. */
  private async flushHistory(): Promise<void> {
    if (this.history.length === 0) return;
    await this.writing(() => this.writer.transaction(() => this.writeHistory(this.now()))());
  }

  async listBatches(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<BatchRecord[]> {
    await this.flushHistory();
    return this.reading(() =>
      (
        this.read
          .prepare('SELECT * FROM sluice_batches WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?')
          .all(runId, options.afterId ?? 0, options.limit ?? 1_000_000) as BatchRow[]
      ).map(toBatch),
    );
  }

  async batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow> {
    await this.flushHistory();
    return this.reading(() => {
      const row = this.read
        .prepare(`SELECT COUNT(*) AS batches, COALESCE(SUM(duration_ms > ?), 0) AS slowBatches,
          COALESCE(SUM(received), 0) AS items, COALESCE(SUM(quarantined), 0) AS badItems
        FROM sluice_batches WHERE backfill = ? AND finished_ms >= ?`)
        .get(slowAboveMs, backfill, sinceMs) as BatchWindow;
      return { batches: row.batches, slowBatches: row.slowBatches, items: row.items, badItems: row.badItems };
    });
  }

  async listAlerts(backfill?: string): Promise<AlertRecord[]> {
    return this.reading(() =>
      (
        this.read
          .prepare(`SELECT * FROM sluice_alerts ${backfill === undefined ? '' : 'WHERE backfill = ?'} ORDER BY backfill, slo, tier`)
          .all(...(backfill === undefined ? [] : [backfill])) as AlertRow[]
      ).map(toAlert),
    );
  }

  async changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean> {
    return this.writing(() =>
      this.writer
        .transaction(() => {
          const current = this.writer
            .prepare('SELECT state FROM sluice_alerts WHERE backfill = ? AND slo = ? AND tier = ?')
            .get(change.backfill, change.slo, change.tier) as { state: AlertState } | undefined;
          if ((current?.state ?? 'inactive') !== change.from) return false;
          const at = this.iso();
          if (change.from === change.to) {
            if (current) {
              this.writer
                .prepare(
                  'UPDATE sluice_alerts SET burn_long = ?, burn_short = ?, summary = ?, updated_at = ? WHERE backfill = ? AND slo = ? AND tier = ?',
                )
                .run(change.burnLong, change.burnShort, change.summary, at, change.backfill, change.slo, change.tier);
            }
            return true;
          }
          this.writer
            .prepare(`INSERT INTO sluice_alerts (backfill, slo, tier, severity, state, since_ms, burn_long, burn_short, summary, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (backfill, slo, tier) DO UPDATE SET severity = excluded.severity, state = excluded.state, since_ms = excluded.since_ms,
            burn_long = excluded.burn_long, burn_short = excluded.burn_short, summary = excluded.summary, updated_at = excluded.updated_at`)
            .run(
              change.backfill,
              change.slo,
              change.tier,
              change.severity,
              change.to,
              change.sinceMs,
              change.burnLong,
              change.burnShort,
              change.summary,
              at,
            );
          this.writer
            .prepare(`INSERT INTO sluice_alert_events (backfill, slo, tier, severity, from_state, to_state, burn_long, burn_short, summary, at_ms)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
            .run(
              change.backfill,
              change.slo,
              change.tier,
              change.severity,
              change.from,
              change.to,
              change.burnLong,
              change.burnShort,
              change.summary,
              change.sinceMs,
            );
          if (notify) {
            const now = this.now();
            const insert =
              this.writer.prepare(`INSERT INTO sluice_alert_notifications (id, webhook, backfill, payload, next_attempt_ms, claimed_by, claimed_until_ms, created_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
            for (const webhook of notify.webhooks) {
              insert.run(
                notify.notification.id,
                webhook,
                change.backfill,
                JSON.stringify(notify.notification),
                now,
                notify.owner,
                now + notify.leaseMs,
                now,
              );
            }
          }
          return true;
        })
        .immediate(),
    );
  }

  async listAlertEvents(
    filter: { backfill?: string; alert?: AlertKey; sinceMs?: number; untilMs?: number; limit?: number } = {},
  ): Promise<AlertEventRecord[]> {
    const where = ['at_ms >= ?', 'at_ms <= ?'];
    const params: unknown[] = [filter.sinceMs ?? 0, filter.untilMs ?? Number.MAX_SAFE_INTEGER];
    const backfill = filter.alert?.backfill ?? filter.backfill;
    if (backfill !== undefined) {
      where.push('backfill = ?');
      params.push(backfill);
    }
    if (filter.alert) {
      where.push('slo = ?', 'tier = ?');
      params.push(filter.alert.slo, filter.alert.tier);
    }
    return this.reading(() =>
      (
        this.read
          .prepare(`SELECT * FROM sluice_alert_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
          .all(...params, filter.limit ?? 1000) as AlertEventRow[]
      ).map(toAlertEvent),
    );
  }

  // ---- alert notifications (the outbox) ---------------------------------------------------------

  async claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications> {
    // BEGIN IMMEDIATE takes the file's write lock: evaluators in other processes claim one after the other.
    return this.writing(() =>
      this.writer
        .transaction((): ClaimedNotifications => {
          const now = this.now();
          const backfills = JSON.stringify(claim.backfills);
          const claimed = (
            this.writer
              .prepare(`UPDATE sluice_alert_notifications SET claimed_by = ?, claimed_until_ms = ?
          WHERE rowid IN (SELECT rowid FROM sluice_alert_notifications
            WHERE state = 'pending' AND backfill IN (SELECT value FROM json_each(?)) AND next_attempt_ms <= ?
              AND (claimed_until_ms IS NULL OR claimed_until_ms <= ? OR claimed_by = ?)
            ORDER BY created_ms, id, webhook LIMIT ?)
          RETURNING *`)
              .all(claim.owner, now + claim.leaseMs, backfills, now, now, claim.owner, claim.limit) as OutboxRow[]
          ).map(toOutbox);
          const due = this.writer
            .prepare(`SELECT MIN(MAX(next_attempt_ms, COALESCE(claimed_until_ms, 0))) AS at FROM sluice_alert_notifications
          WHERE state = 'pending' AND backfill IN (SELECT value FROM json_each(?)) AND (claimed_by IS NULL OR claimed_by <> ?)`)
            .get(backfills, claim.owner) as { at: number | null };
          claimed.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id) || a.webhook.localeCompare(b.webhook));
          return { claimed, nextDueInMs: due.at === null ? null : Math.max(0, due.at - now) };
        })
        .immediate(),
    );
  }

  async reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean> {
    return this.writing(
      () =>
        this.writer
          .prepare(`UPDATE sluice_alert_notifications SET payload = ?
        WHERE id = ? AND claimed_by = ? AND claimed_until_ms > ? AND state = 'pending'`)
          .run(JSON.stringify(notification), id, owner, this.now()).changes > 0,
    );
  }

  async settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean> {
    const now = this.now();
    const state: OutboxState = settlement.outcome === 'retry' ? 'pending' : settlement.outcome;
    const error = settlement.outcome === 'delivered' ? null : settlement.error;
    const nextAttempt = settlement.outcome === 'retry' ? now + settlement.retryInMs : now;
    return this.writing(
      () =>
        this.writer
          .prepare(`UPDATE sluice_alert_notifications SET state = ?, attempts = attempts + 1, last_error = ?,
        next_attempt_ms = ?, settled_ms = ?, claimed_by = NULL, claimed_until_ms = NULL
        WHERE id = ? AND webhook = ? AND claimed_by = ? AND state = 'pending'`)
          .run(state, error, nextAttempt, state === 'pending' ? null : now, id, webhook, owner).changes > 0,
    );
  }

  async listNotifications(filter: { backfill?: string; state?: OutboxState; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.reading(() =>
      (
        this.read
          .prepare(`SELECT * FROM sluice_alert_notifications WHERE (? IS NULL OR backfill = ?) AND (? IS NULL OR state = ?)
        ORDER BY created_ms, id, webhook LIMIT ?`)
          .all(
            filter.backfill ?? null,
            filter.backfill ?? null,
            filter.state ?? null,
            filter.state ?? null,
            filter.limit ?? 1000,
          ) as OutboxRow[]
      ).map(toOutbox),
    );
  }

  // ---- verification ---------------------------------------------------------------------------

  async recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    await this.writing(() =>
      this.write
        .prepare('INSERT INTO sluice_verifications (run_id, check_name, passed, detail, actor, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(result.runId, result.check, result.passed ? 1 : 0, result.detail, result.actor, this.iso()),
    );
  }

  async listVerifications(runId: string): Promise<VerificationRecord[]> {
    return this.reading(() =>
      (
        this.read.prepare('SELECT * FROM sluice_verifications WHERE run_id = ? ORDER BY id').all(runId) as Array<{
          run_id: string;
          check_name: string;
          passed: number;
          detail: string;
          actor: string;
          at: string;
        }>
      ).map((r) => ({ runId: r.run_id, check: r.check_name, passed: r.passed === 1, detail: r.detail, actor: r.actor, at: r.at })),
    );
  }

  // ---- API tokens -----------------------------------------------------------------------------

  async createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    const createdAt = this.iso();
    await this.writing(() =>
      this.write
        .prepare('INSERT INTO sluice_tokens (id, name, scope, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(token.id, token.name, token.scope, token.hash, token.createdBy, createdAt),
    );
    return { ...token, createdAt, revokedAt: null };
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.reading(() => this.read.prepare('SELECT * FROM sluice_tokens WHERE id = ?').get(id) as TokenRow | undefined);
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.reading(() => (this.read.prepare('SELECT * FROM sluice_tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken));
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.writing(
      () =>
        this.write.prepare('UPDATE sluice_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.iso(), id).changes > 0,
    );
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Runs a synchronous write outside any batch transaction, in turn with the others. */
  private writing<T>(work: () => T): Promise<T> {
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
  private reading<T>(work: () => T): T {
    this.assertOpen();
    try {
      return work();
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Runs one of the batch transaction's own operations: only while that transaction is open. */
  private inTransaction<T>(work: () => T): T {
    this.assertInTransaction();
    try {
      return work();
    } catch (error) {
      throw this.fail(error);
    }
  }

  private assertInTransaction(): void {
    if (!this.active)
      throw new StoreError(`store ${this.location}: the batch transaction is over; its StoreTransaction cannot be used any more`);
    // SQLite rolls a transaction back by itself on some errors (disk full, I/O): nothing may then run in autocommit mode.
    if (!this.writer.inTransaction)
      throw new StoreError(`store ${this.location}: SQLite rolled the batch transaction back after an error; it cannot continue`);
  }

  private rollbackQuietly(): void {
    try {
      if (this.writer.inTransaction) this.statements.rollback.run();
    } catch {
      // The connection is left without a transaction either way; the caller's error is the one to report.
    }
  }

  /** Sluice's own errors pass through; the driver's become a StoreError carrying the original (SQLITE_BUSY …) as cause. */
  private fail(error: unknown): Error {
    if (isSluiceError(error)) return error;
    return new StoreError(`store ${this.location}: ${messageOf(error)}`, { cause: error });
  }

  private openError(error: unknown): Error {
    if (isSluiceError(error)) return error;
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      return new StoreError(`${this.location} is not a Sluice store: the file is not a SQLite database (or it is corrupt)`, {
        hint: 'move the file away, or pass --db (or SLUICE_DB) with another path',
        cause: error,
      });
    }
    return new StoreError(`cannot open store ${this.location}: ${messageOf(error)}`, {
      hint: 'check that the path is a file you can read and write, or pass --db (or SLUICE_DB) with another path',
      cause: error,
    });
  }

  private insertTransition(runId: string, from: RunState | null, to: RunState, actor: string, reason: string, at: string): void {
    this.write
      .prepare('INSERT INTO sluice_transitions (run_id, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(runId, from, to, actor, reason, at);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`store ${this.location} is closed`);
  }
}

/** The JSON path of a concurrency key inside `sluice_runs.keys` (names are quoted: they may hold dots). */
function jsonPath(name: string): string {
  return `$."${name.replace(/"/g, '""')}"`;
}

/** One query whatever the number of keys: they are bound as one JSON array. */
function delivered(statement: Database.Statement, namespace: string, keys: readonly ItemKey[]): Set<ItemKey> {
  if (keys.length === 0) return new Set();
  return new Set(statement.all(namespace, JSON.stringify(keys)) as string[]);
}

// ---- row mapping ---------------------------------------------------------------------------------

interface RunRow {
  id: string;
  backfill: string;
  state: RunState;
  params: string;
  options: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  reason: string | null;
  control: string | null;
  planned_items: number | null;
  keys: string;
  tuning: number;
  canary_items: number | null;
  canary_left: number | null;
  ramp_lanes: number | null;
  c_received: number;
  c_processed: number;
  c_skipped: number;
  c_failed: number;
  c_quarantined: number;
  c_batches: number;
}

function toRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    backfill: row.backfill,
    state: row.state,
    params: JSON.parse(row.params),
    options: JSON.parse(row.options),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    reason: row.reason,
    control: row.control ? JSON.parse(row.control) : null,
    counts: {
      received: row.c_received,
      processed: row.c_processed,
      skipped: row.c_skipped,
      failed: row.c_failed,
      quarantined: row.c_quarantined,
    },
    batches: row.c_batches,
    plannedItems: row.planned_items,
    keys: JSON.parse(row.keys) as Record<string, string>,
    tuning: row.tuning,
    canary: row.canary_items === null ? null : { items: row.canary_items, left: row.canary_left ?? 0 },
    rampLanes: row.ramp_lanes,
  };
}

interface TransitionRow {
  run_id: string;
  from_state: RunState | null;
  to_state: RunState;
  actor: string;
  reason: string;
  at: string;
}

interface PartitionRow extends Counts {
  run_id: string;
  idx: number;
  lower: string;
  upper: string;
  label: string | null;
  child: string | null;
  cursor: string;
  state: PartitionState;
  fence: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  heartbeat_at: number | null;
  split_from: number | null;
  batches: number;
  error: string | null;
  updated_at: string;
}

function toPartition(row: PartitionRow): PartitionRecord {
  return {
    runId: row.run_id,
    index: row.idx,
    lower: JSON.parse(row.lower) as Cursor,
    upper: JSON.parse(row.upper) as Cursor,
    label: row.label,
    child: row.child,
    cursor: JSON.parse(row.cursor) as Cursor,
    state: row.state,
    fence: row.fence,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at === null ? null : new Date(row.lease_expires_at).toISOString(),
    heartbeatAt: row.heartbeat_at === null ? null : new Date(row.heartbeat_at).toISOString(),
    splitFrom: row.split_from,
    counts: { received: row.received, processed: row.processed, skipped: row.skipped, failed: row.failed, quarantined: row.quarantined },
    batches: row.batches,
    error: row.error,
    updatedAt: row.updated_at,
  };
}

interface QuarantineRow {
  id: number;
  run_id: string;
  backfill: string;
  partition_idx: number | null;
  item_key: string;
  error_class: string;
  message: string;
  payload: string | null;
  locator: string | null;
  attempts: number;
  status: QuarantineStatus;
  created_at: string;
  updated_at: string;
}

function toQuarantine(row: QuarantineRow): QuarantineRecord {
  return {
    id: row.id,
    runId: row.run_id,
    backfill: row.backfill,
    partitionIndex: row.partition_idx,
    itemKey: row.item_key,
    errorClass: row.error_class,
    message: row.message,
    payload: row.payload,
    ...(row.locator !== null ? { locator: JSON.parse(row.locator) as Cursor } : {}),
    attempts: row.attempts,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
