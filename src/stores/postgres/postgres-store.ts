import pg from 'pg';
import type { Cursor, ItemKey } from '../../core/cursor.js';
import { ConfigError, isSluiceError, StoreError } from '../../core/errors.js';
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
import type { ClaimScope, NewRun, RunFilter, Store, StoreTransaction, TransactionOptions } from '../../core/store.js';
import type { VerificationRecord } from '../../core/verify.js';
import { PostgresAlertOutbox } from './alert-outbox.js';
import { PostgresApiTokens } from './api-tokens.js';
import { PostgresBatchCommit } from './batch-commit.js';
import { PostgresBatchHistory } from './batch-history.js';
import { migrate } from './migrations.js';
import { PostgresPartitionLeases } from './partition-leases.js';
import type { PostgresConnection } from './postgres-connection.js';
import { PostgresQuarantineReads } from './quarantine-reads.js';
import { PostgresRolloutBudgets } from './rollout-budgets.js';
import { PostgresRuns } from './runs.js';
import { PostgresSloAlerts } from './slo-alerts.js';
import { PostgresStoreSchema } from './store-schema.js';
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
  private readonly commit: PostgresBatchCommit;

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
    this.commit = new PostgresBatchCommit(this.db);
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

  transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.commit.transaction(work, options);
  }

  deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    return this.commit.deliveredKeys(namespace, keys);
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
