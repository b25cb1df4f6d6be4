import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Cursor, ItemKey } from '../../core/cursor.js';
import { CheckpointMovedError, ConfigError, isSluiceError, LeaseLostError, StoreError } from '../../core/errors.js';
import { redactConnectionString, redactSecrets } from '../../core/redact.js';
import type { RunState } from '../../core/run-state.js';
import type {
  BatchRecord,
  BatchWindow,
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
  TokenRecord,
  TransitionRecord,
} from '../../core/run.js';
import type {
  ClaimedNotifications,
  NewNotification,
  OutboxClaim,
  OutboxRecord,
  OutboxSettlement,
  OutboxState,
} from '../../core/slo/alert-outbox.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from '../../core/slo/alert-record.js';
import { quoteIdentifier } from '../../core/sql.js';
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
import type { VerificationRecord } from '../../core/verify.js';
import { PostgresAlertOutbox } from './alert-outbox.js';
import { PostgresApiTokens } from './api-tokens.js';
import { PostgresBatchHistory } from './batch-history.js';
import { migrate } from './migrations.js';
import { PostgresPartitionLeases } from './partition-leases.js';
import { PostgresConnection } from './postgres-connection.js';
import { PostgresQuarantineReads } from './quarantine-reads.js';
import { PostgresRolloutBudgets } from './rollout-budgets.js';
import { PostgresRuns } from './runs.js';
import { PostgresSloAlerts } from './slo-alerts.js';
import { PostgresStoreSchema, type TransactionEnding } from './store-schema.js';
import { poolTimeoutSettings, type PostgresTimeouts, resolveTimeouts, timeoutError } from './timeouts.js';
import { PostgresVerifications } from './verifications.js';

export interface PostgresStoreOptions extends PostgresTimeouts {
  /** `postgres://user@host:5432/db`: the store opens a pool of its own. Give this or `pool`. */
  connectionString?: string;
  /**
   * The service's own pool (IAM authentication, TLS, a pooler such as PgBouncer): the store runs
   * on it and leaves it open when it closes. Its connection settings are the pool's: set
   * `connectionTimeoutMillis`, `query_timeout`, `statement_timeout` and `keepAlive` on it (see
   * docs/postgres.md); Sluice still bounds the user's statements it runs (`statementTimeoutMs`).
   * Give this or `connectionString`.
   */
  pool?: pg.Pool;
  /** Schema holding Sluice's tables. Default `sluice`. */
  schema?: string;
  /** `search_path` of the store's connections (where the user's unqualified tables are found); with `pool`, set it on the pool. */
  searchPath?: string;
  /** Pool size. Default 10 (with `pool`, the pool's own). */
  poolSize?: number;
  /**
   * Run the per-batch checkpoint as a named prepared statement (parsed and planned once per
   * connection). Default true. Set false behind a pooler that hands each transaction a different
   * server connection and does not track prepared statements (PgBouncer in transaction mode
   * before 1.21, or without max_prepared_statements).
   */
  preparedStatements?: boolean;
  /**
   * Commit batch transactions (`delivery: 'transactional'`: the batch's writes and its checkpoint
   * in one transaction) with `synchronous_commit = off`: the commit returns before its WAL is
   * flushed to disk, so the batch does not wait on the flush, nor queue behind the foreground's.
   * Nothing is lost that is not redone: a server crash loses the batch's writes and its checkpoint
   * together, and the batch is read and written again from the checkpoint before it. Every other
   * transaction (run transitions such as succeeded, failed and cancelled, releases, the ledger of
   * at-least-once batches) commits synchronously, and its flush makes every earlier commit durable
   * too, so nothing reported as done can vanish. Default true; false waits for every flush.
   */
  asyncBatchCommit?: boolean;
}

/** Opens the PostgreSQL store, creating its schema and applying migrations when needed. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? 'sluice';
  quoteIdentifier(schema, 'schema');
  const timeouts = resolveTimeouts(options);
  if (options.pool !== undefined) return openOnPool(options.pool, schema, timeouts, options);
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new ConfigError("openPostgresStore needs a connectionString (postgres://user@host:5432/db) or the service's own pg.Pool as pool");
  }
  const location = redactConnectionString(options.connectionString);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    ...poolTimeoutSettings(timeouts),
    // Names the store in pg_stat_activity, so a DBA sees which connections are Sluice's.
    application_name: `sluice:${schema}`.slice(0, 63),
    ...(options.searchPath
      ? {
          options: `-c search_path=${options.searchPath
            .split(',')
            .map((p) => quoteIdentifier(p.trim(), 'search_path entry'))
            .join(',')}`,
        }
      : {}),
  });
  pool.on('error', () => undefined); // an idle client's connection dropped: the pool replaces it
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect();
    await migrate(client, schema);
  } catch (error) {
    // A connection whose statement timed out is destroyed, not pooled (pool.end would wait on it).
    client?.release(error as Error);
    await pool.end().catch(() => undefined);
    if (isSluiceError(error)) throw error;
    const timedOut = timeoutError(error, location, timeouts);
    if (timedOut) throw new StoreError(`cannot open the store: ${redactSecrets(timedOut.message)}`, { hint: timedOut.hint, cause: error });
    throw new StoreError(`cannot open the PostgreSQL store at ${location}: ${redactSecrets((error as Error).message)}`, {
      hint: 'check `connectionString` (postgres://user@host:port/database) and that the server accepts connections',
      cause: error,
    });
  }
  client.release();
  return new PostgresStore(pool, schema, location, options.preparedStatements ?? true, timeouts, {
    ownsPool: true,
    asyncBatchCommit: options.asyncBatchCommit ?? true,
  });
}

/** The store on the service's own pool: migrated through it, and left open when the store closes. */
async function openOnPool(
  pool: pg.Pool,
  schema: string,
  timeouts: Required<PostgresTimeouts>,
  options: PostgresStoreOptions,
): Promise<PostgresStore> {
  if (options.connectionString !== undefined || options.searchPath !== undefined || options.poolSize !== undefined) {
    throw new ConfigError(
      "openPostgresStore: with your own pool, connectionString, searchPath and poolSize are the pool's to set, not the store's; drop them from the options",
    );
  }
  const { connectionString, host, port, database, user } = pool.options;
  const where = connectionString
    ? redactConnectionString(connectionString)
    : `postgres://${user ? `${user}@` : ''}${host ?? 'localhost'}:${port ?? 5432}/${database ?? ''}`;
  const location = `${where} (the service's pool)`;
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect();
    await migrate(client, schema);
  } catch (error) {
    client?.release(error as Error);
    if (isSluiceError(error)) throw error;
    throw new StoreError(
      `cannot open the PostgreSQL store on the service's pool (${location}): ${redactSecrets((error as Error).message)}`,
      {
        hint: "check that the pool can connect and its user may create the store's schema and tables",
        cause: error,
      },
    );
  }
  client.release();
  return new PostgresStore(pool, schema, location, options.preparedStatements ?? true, timeouts, {
    ownsPool: false,
    asyncBatchCommit: options.asyncBatchCommit ?? true,
  });
}

/**
 * The store on PostgreSQL, for workers on many machines: the same interface and contract as the
 * embedded store. Partitions are claimed with `FOR UPDATE SKIP LOCKED`; leases and fences use the
 * database's clock, the one clock every worker shares. The store's schema on its pool
 * (`PostgresStoreSchema`) is what every part works on; one module per port of the store, and
 * this class composes them.
 */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly location: string;
  private readonly db: PostgresStoreSchema;
  private readonly tokens: PostgresApiTokens;
  private readonly verifications: PostgresVerifications;
  private readonly alerts: PostgresSloAlerts;
  private readonly outbox: PostgresAlertOutbox;
  private readonly history: PostgresBatchHistory;
  private readonly quarantine: PostgresQuarantineReads;
  private readonly runs: PostgresRuns;
  private readonly rollout: PostgresRolloutBudgets;
  private readonly leases: PostgresPartitionLeases;
  private savepoints = 0;
  private readonly checkpointTexts: Array<string | undefined> = [];
  private readonly statementNames = new Map<string, string>();
  private readonly prepared = new WeakMap<pg.PoolClient, Set<string>>();

  constructor(
    pool: pg.Pool,
    schema: string,
    location: string,
    prepare = true,
    timeouts: PostgresTimeouts = {},
    settings: { ownsPool: boolean; asyncBatchCommit?: boolean } = { ownsPool: true },
  ) {
    this.db = new PostgresStoreSchema(pool, schema, location, prepare, timeouts, settings);
    this.location = location;
    this.tokens = new PostgresApiTokens(this.db);
    this.verifications = new PostgresVerifications(this.db);
    this.alerts = new PostgresSloAlerts(this.db);
    this.outbox = new PostgresAlertOutbox(this.db);
    this.history = new PostgresBatchHistory(this.db);
    this.quarantine = new PostgresQuarantineReads(this.db);
    this.runs = new PostgresRuns(this.db);
    this.rollout = new PostgresRolloutBudgets(this.db, this.runs);
    this.leases = new PostgresPartitionLeases(this.db);
  }

  readConnection(): PostgresConnection {
    return this.db.readConnection();
  }

  clockNow(): Promise<number> {
    return this.db.clockNow();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  createRun(input: NewRun): Promise<RunRecord> {
    return this.runs.createRun(input);
  }

  createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }> {
    return this.runs.createRunOnce(input, options);
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.runs.getRun(runId);
  }

  listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.runs.listRuns(filter);
  }

  transitionRun(runId: string, from: readonly RunState[], to: RunState, actor: string, reason: string): Promise<RunRecord | undefined> {
    return this.runs.transitionRun(runId, from, to, actor, reason);
  }

  startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult> {
    return this.runs.startRun(runId, from, actor, reason, limits);
  }

  listTransitions(runId: string): Promise<TransitionRecord[]> {
    return this.runs.listTransitions(runId);
  }

  updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord> {
    return this.runs.updateRunOptions(runId, patch);
  }

  recordDecision(runId: string, decision: { worker: string; kind: string; reason: string; settings: object }): Promise<void> {
    return this.runs.recordDecision(runId, decision);
  }

  listDecisions(runId: string, limit = 50): Promise<DecisionRecord[]> {
    return this.runs.listDecisions(runId, limit);
  }

  setControl(runId: string, control: RunControl | null): Promise<void> {
    return this.runs.setControl(runId, control);
  }

  setPlannedItems(runId: string, plannedItems: number): Promise<boolean> {
    return this.runs.setPlannedItems(runId, plannedItems);
  }

  setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord> {
    return this.rollout.setRollout(runId, rollout);
  }

  claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim> {
    return this.rollout.claimCanaryItems(lease, want);
  }

  moveRamp(runId: string, move: RampMove): Promise<boolean> {
    return this.rollout.moveRamp(runId, move);
  }

  listPartitions(runId: string): Promise<PartitionRecord[]> {
    return this.leases.listPartitions(runId);
  }

  claimPartition(runId: string, owner: string, leaseMs: number, scope: ClaimScope = {}): Promise<PartitionLease | undefined> {
    return this.leases.claimPartition(runId, owner, leaseMs, scope);
  }

  claimPartitionWithin(
    runId: string,
    owner: string,
    leaseMs: number,
    limits: ConcurrencyLimits,
    scope: ClaimScope = {},
  ): Promise<ClaimResult> {
    return this.leases.claimPartitionWithin(runId, owner, leaseMs, limits, scope);
  }

  renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean> {
    return this.leases.renewLease(lease, leaseMs);
  }

  releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean> {
    return this.leases.releasePartition(lease, state, error);
  }

  splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined> {
    return this.leases.splitPartition(runId, index, observed, at, label);
  }

  expireLeases(isDead: (owner: string) => boolean): Promise<number> {
    return this.leases.expireLeases(isDead);
  }

  resetFailedPartitions(runId: string): Promise<number> {
    return this.leases.resetFailedPartitions(runId);
  }

  async transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.db.inTransaction(
      (client, ending) => work(this.transactionApi(client, options.rollback ? undefined : ending)),
      options.rollback,
      options.redoable ? this.db.beginBatch : 'BEGIN',
    );
  }

  async deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    return this.delivered(this.db.pool, namespace, keys);
  }

  /** `ending`: where the checkpoint notes that it committed the transaction itself (absent: it may not). */
  private transactionApi(client: pg.PoolClient, ending?: TransactionEnding): StoreTransaction {
    return {
      sql: new PostgresConnection(client, this.db.userTimeoutMs),
      savepoint: async <T>(work: () => Promise<T>) => {
        const name = `sluice_sp_${++this.savepoints}`;
        await client.query(`SAVEPOINT ${name}`);
        try {
          const result = await work();
          await client.query(`RELEASE SAVEPOINT ${name}`);
          return result;
        } catch (error) {
          await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
          await client.query(`RELEASE SAVEPOINT ${name}`);
          throw error;
        }
      },
      deliveredKeys: (namespace, keys) => this.delivered(client, namespace, keys),
      checkpoint: (write) => this.checkpoint(client, write, ending),
      markReplayed: (runId, ids, ledger) => this.markReplayed(client, runId, ids, ledger),
      recordDelivered: (runId, ledger) => this.markReplayed(client, runId, [], ledger),
      recordReplayFailure: async (id, errorClass, message) => {
        await client.query(
          `UPDATE ${this.db.t.quarantine} SET attempts = attempts + 1, error_class = $2, message = $3, updated_at = now() WHERE id = $1`,
          [id, errorClass, message],
        );
      },
    };
  }

  /**
   * The per-batch hot path: one fenced UPDATE that also reads the control request, with the
   * batch's history row and ledger keys, then any quarantine rows. When the checkpoint is the last
   * thing the transaction does and its statement is already prepared on this connection, the
   * COMMIT goes with it in one round trip (`EXECUTE …; COMMIT`): the statement raises when the
   * fence or the cursor refuses the checkpoint, so the COMMIT never runs without it.
   */
  private async checkpoint(client: pg.PoolClient, write: CheckpointWrite, ending?: TransactionEnding): Promise<CheckpointSeen> {
    const { lease, delta, stats } = write;
    const ledgerKeys = write.ledger?.keys ?? [];
    const params: unknown[] = [
      lease.runId,
      lease.index,
      lease.fence,
      JSON.stringify(write.cursor ?? null),
      delta.received,
      delta.processed,
      delta.skipped,
      delta.failed,
      delta.quarantined,
      write.done,
      write.leaseMs,
      JSON.stringify(write.previousCursor ?? null),
    ];
    if (stats)
      params.push(
        stats.worker,
        stats.finishedAtMs,
        Math.max(0, Math.round(stats.finishedAtMs - stats.startedAtMs)),
        stats.retries ? JSON.stringify(stats.retries) : null,
      );
    if (ledgerKeys.length > 0) params.push(write.ledger!.namespace, ledgerKeys);
    const statement = this.statement(this.checkpointSql(stats !== undefined, ledgerKeys.length > 0), params);
    const quarantine = write.quarantine ?? [];
    type Seen = { control: RunControl | null; backfill: string; state: RunState; upper: Cursor; tuning: number; ramp_lanes: number | null };
    let seen: Seen | undefined;
    if (write.canaryUsed !== undefined) {
      // Before the checkpoint zeroes the partition's claim (fenced: a stale lease returns nothing,
      // and its checkpoint then fails): what the batch did not use returns to the run's budget.
      await client.query(
        `UPDATE ${this.db.t.runs} r SET canary_left = r.canary_left + GREATEST(p.canary_claim - $4, 0)
          FROM ${this.db.t.partitions} p WHERE r.id = $1 AND r.canary_left IS NOT NULL AND p.run_id = $1 AND p.idx = $2 AND p.fence = $3`,
        [lease.runId, lease.index, lease.fence, write.canaryUsed],
      );
    }
    try {
      if (ending && quarantine.length === 0 && statement.name !== undefined && this.preparedOn(client).has(statement.name)) {
        const [result] = (await client.query(
          `EXECUTE ${statement.name}(${params.map((v) => sqlLiteral(client, v)).join(', ')}); COMMIT`,
        )) as unknown as [pg.QueryResult<Seen>];
        ending.committed = true;
        seen = result.rows[0];
      } else {
        seen = (await client.query<Seen>(statement)).rows[0];
        if (statement.name !== undefined) this.preparedOn(client).add(statement.name);
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'SL001') throw new CheckpointMovedError(lease.runId, lease.index);
      if (code === 'SL002') throw new LeaseLostError(lease.runId, lease.index, lease.fence);
      throw error;
    }
    if (!seen) throw new StoreError(`the checkpoint of run ${lease.runId} partition ${lease.index} returned no row`);
    if (quarantine.length > 0) {
      const q = quarantine;
      await client.query(
        `INSERT INTO ${this.db.t.quarantine} (run_id, backfill, partition_idx, item_key, error_class, message, payload, locator, attempts)
          SELECT $1, $2, $3, k, c, m, p, l, a FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::int[]) AS x(k, c, m, p, l, a)
          ON CONFLICT (run_id, item_key) DO UPDATE SET error_class = excluded.error_class, message = excluded.message, payload = excluded.payload,
            locator = excluded.locator, attempts = ${this.db.t.quarantine}.attempts + excluded.attempts, status = 'open', updated_at = now()`,
        [
          lease.runId,
          seen.backfill,
          lease.index,
          q.map((e) => e.itemKey),
          q.map((e) => e.errorClass),
          q.map((e) => e.message),
          q.map((e) => e.payload),
          q.map((e) => (e.locator === undefined ? null : JSON.stringify(e.locator))),
          q.map((e) => e.attempts),
        ],
      );
    }
    return { control: seen.control, runState: seen.state, upper: seen.upper, tuning: seen.tuning, rampLanes: seen.ramp_lanes };
  }

  /** The names of the statements prepared on this connection (a new connection has none). */
  private preparedOn(client: pg.PoolClient): Set<string> {
    let names = this.prepared.get(client);
    if (!names) {
      names = new Set();
      this.prepared.set(client, names);
    }
    return names;
  }

  /**
   * The checkpoint statement, with the batch's history row and its ledger keys only when it has
   * them: one round trip, whose INSERTs read `cp`, so that a checkpoint the fence or the cursor
   * refuses writes neither history nor ledger, and raises (SL001, SL002), which aborts the
   * transaction (a COMMIT sent with it does not run, and the caller rolls back). An
   * INSERT with nothing to insert is not free: planned and executed per batch, an empty ledger
   * CTE cost a third of the statement's time at four lanes.
   */
  private checkpointSql(history: boolean, ledger: boolean): string {
    const key = (history ? 1 : 0) + (ledger ? 2 : 0);
    const cached = this.checkpointTexts[key];
    if (cached) return cached;
    const ledgerParams = history ? ['$17', '$18'] : ['$13', '$14'];
    const text = `WITH cp AS (
         UPDATE ${this.db.t.partitions} p SET cursor = $4, received = p.received + $5, processed = p.processed + $6, skipped = p.skipped + $7,
            failed = p.failed + $8, quarantined = p.quarantined + $9, batches = p.batches + 1,
            state = CASE WHEN $10 THEN 'done' ELSE p.state END,
            lease_owner = CASE WHEN $10 THEN NULL ELSE p.lease_owner END,
            lease_expires_at = CASE WHEN $10 THEN NULL ELSE now() + make_interval(secs => $11::double precision / 1000) END,
            heartbeat_at = now(), updated_at = now(), canary_claim = 0
          FROM ${this.db.t.runs} r
          WHERE p.run_id = $1 AND p.idx = $2 AND p.fence = $3 AND p.cursor = $12::jsonb AND r.id = p.run_id
          RETURNING r.control, r.backfill, r.state, p.upper, r.tuning, r.ramp_lanes
       )${
         history
           ? `, history AS (
         INSERT INTO ${this.db.t.batches} (run_id, backfill, partition_idx, worker, finished_at, duration_ms, received, processed, skipped, failed, quarantined, retries)
         SELECT $1, cp.backfill, $2, $13::text, to_timestamp($14::double precision / 1000), $15::int, $5, $6, $7, $8, $9, $16::jsonb FROM cp
       )`
           : ''
       }${
         ledger
           ? `, ledger AS (
         INSERT INTO ${this.db.t.ledger} (namespace, item_key, run_id) SELECT ${ledgerParams[0]}::text, k, $1 FROM cp, unnest(${ledgerParams[1]}::text[]) AS k ON CONFLICT DO NOTHING
       )`
           : ''
       }
       SELECT cp.* FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM cp) THEN true ELSE ${this.db.schemaName}.sluice_checkpoint_refused($1, $2, $3) END AS ok) AS guard
         LEFT JOIN cp ON true`;
    this.checkpointTexts[key] = text;
    return text;
  }

  /**
   * A statement the store runs per batch, as a named prepared statement when the store may use
   * them: parsed and planned once per connection instead of on every batch. The name is the
   * text's hash, so that one name never stands for two texts.
   */
  private statement(text: string, values: unknown[]): pg.QueryConfig {
    if (!this.db.prepare) return { text, values };
    let name = this.statementNames.get(text);
    if (name === undefined) {
      name = `sluice_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.statementNames.set(text, name);
    }
    return { name, text, values };
  }

  private async markReplayed(
    client: pg.PoolClient,
    runId: string,
    ids: readonly number[],
    ledger?: { namespace: string; keys: readonly ItemKey[] },
  ): Promise<void> {
    if (ids.length > 0) {
      const { rows } = await client.query<{ partition_idx: number | null }>(
        `UPDATE ${this.db.t.quarantine} SET status = 'replayed', attempts = attempts + 1, updated_at = now()
          WHERE id = ANY($1::bigint[]) AND run_id = $2 AND status = 'open' RETURNING partition_idx`,
        [ids, runId],
      );
      const perPartition = new Map<number, number>();
      for (const r of rows) perPartition.set(r.partition_idx ?? 0, (perPartition.get(r.partition_idx ?? 0) ?? 0) + 1);
      for (const [idx, n] of perPartition) {
        await client.query(
          `UPDATE ${this.db.t.partitions} SET quarantined = quarantined - $3, failed = GREATEST(failed - $3, 0), processed = processed + $3, updated_at = now()
            WHERE run_id = $1 AND idx = $2`,
          [runId, idx, n],
        );
      }
    }
    if (ledger && ledger.keys.length > 0) {
      await client.query(
        `INSERT INTO ${this.db.t.ledger} (namespace, item_key, run_id) SELECT $1, k, $2 FROM unnest($3::text[]) AS k ON CONFLICT DO NOTHING`,
        [ledger.namespace, runId, ledger.keys],
      );
    }
  }

  listQuarantine(filter: {
    runId?: string;
    backfill?: string;
    status?: QuarantineStatus;
    errorClass?: string;
    limit?: number;
    afterId?: number;
  }): Promise<QuarantineRecord[]> {
    return this.quarantine.listQuarantine(filter);
  }

  quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    return this.quarantine.quarantineSummary(filter);
  }

  private async delivered(client: pg.Pool | pg.PoolClient, namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    if (keys.length === 0) return new Set();
    const { rows } = await client.query<{ item_key: string }>(
      `SELECT item_key FROM ${this.db.t.ledger} WHERE namespace = $1 AND item_key = ANY($2::text[])`,
      [namespace, keys],
    );
    return new Set(rows.map((r) => r.item_key));
  }

  listBatches(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<BatchRecord[]> {
    return this.history.listBatches(runId, options);
  }

  batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow> {
    return this.history.batchWindow(backfill, sinceMs, slowAboveMs);
  }

  listAlerts(backfill?: string): Promise<AlertRecord[]> {
    return this.alerts.listAlerts(backfill);
  }

  changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean> {
    return this.alerts.changeAlert(change, notify);
  }

  listAlertEvents(
    filter: { backfill?: string; alert?: AlertKey; sinceMs?: number; untilMs?: number; limit?: number } = {},
  ): Promise<AlertEventRecord[]> {
    return this.alerts.listAlertEvents(filter);
  }

  claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications> {
    return this.outbox.claimNotifications(claim);
  }

  reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean> {
    return this.outbox.reviseNotification(owner, id, notification);
  }

  settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean> {
    return this.outbox.settleNotification(owner, id, webhook, settlement);
  }

  listNotifications(filter: { backfill?: string; state?: OutboxState; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.outbox.listNotifications(filter);
  }

  recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    return this.verifications.recordVerification(result);
  }

  listVerifications(runId: string): Promise<VerificationRecord[]> {
    return this.verifications.listVerifications(runId);
  }

  createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    return this.tokens.createToken(token);
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.tokens.getToken(id);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.tokens.listTokens();
  }

  revokeToken(id: string): Promise<boolean> {
    return this.tokens.revokeToken(id);
  }
}

/** A checkpoint parameter as an SQL literal, for `EXECUTE` in a simple query (which takes no parameters). */
function sqlLiteral(client: pg.PoolClient, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new StoreError(`cannot write ${value} into a checkpoint`);
    return String(value);
  }
  if (Array.isArray(value))
    return client.escapeLiteral(`{${value.map((v) => `"${String(v).replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`);
  return client.escapeLiteral(String(value));
}
