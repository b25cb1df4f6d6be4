import pg from 'pg';
import { ConfigError, isSluiceError, StoreError } from '../../core/errors.js';
import { redactConnectionString, redactSecrets } from '../../core/redact.js';
import { quoteIdentifier } from '../../core/sql.js';
import { StoreApiTokens } from '../shared/api-tokens.js';
import { ComposedStore } from '../shared/composed-store.js';
import { StoreQuarantineReads } from '../shared/quarantine-reads.js';
import { StoreVerifications } from '../shared/verifications.js';
import { PostgresAlertOutbox } from './alert-outbox.js';
import { PostgresBatchCommit } from './batch-commit.js';
import { PostgresBatchHistory } from './batch-history.js';
import { migrate } from './migrations.js';
import { PostgresPartitionLeases } from './partition-leases.js';
import type { PostgresConnection } from './postgres-connection.js';
import { PostgresRolloutBudgets } from './rollout-budgets.js';
import { PostgresRuns } from './runs.js';
import { PostgresSloAlerts } from './slo-alerts.js';
import { PostgresStoreSchema } from './store-schema.js';
import { PostgresStatements } from './store-statements.js';
import { poolTimeoutSettings, type PostgresTimeouts, resolveTimeouts, timeoutError } from './timeouts.js';

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
 * (`PostgresStoreSchema`) is what every part works on, one module per port of the store; the
 * ports whose statements both stores share (src/stores/shared/) run them through `PostgresStatements`.
 */
export class PostgresStore extends ComposedStore {
  readonly dialect = 'postgres' as const;
  private readonly db: PostgresStoreSchema;

  constructor(
    pool: pg.Pool,
    schema: string,
    location: string,
    prepare = true,
    timeouts: PostgresTimeouts = {},
    settings: { ownsPool: boolean; asyncBatchCommit?: boolean } = { ownsPool: true },
  ) {
    const db = new PostgresStoreSchema(pool, schema, location, prepare, timeouts, settings);
    const runs = new PostgresRuns(db);
    const statements = new PostgresStatements(db);
    super({
      database: db,
      runs,
      rollout: new PostgresRolloutBudgets(db, runs),
      leases: new PostgresPartitionLeases(db),
      commit: new PostgresBatchCommit(db),
      quarantine: new StoreQuarantineReads(statements),
      history: new PostgresBatchHistory(db),
      alerts: new PostgresSloAlerts(db),
      outbox: new PostgresAlertOutbox(db),
      verifications: new StoreVerifications(statements),
      tokens: new StoreApiTokens(statements),
    });
    this.db = db;
  }

  /** A connection on the store's pool, for sources whose target is the store's database. */
  override readConnection(): PostgresConnection {
    return this.db.readConnection();
  }
}
