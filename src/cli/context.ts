import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type BackfillDefinition,
  createSluice,
  type Logger,
  NotFoundError,
  parseDuration,
  type Sluice,
  type Store,
  UsageError,
} from '../index.js';
import { openPostgresStore, type PostgresTimeouts } from '../postgres.js';
import { INTEGRITY_CHECKS, type IntegrityCheck, openSqliteStore } from '../sqlite.js';
import { findConfig, loadConfig } from './config.js';
import { DEMO_BACKFILL_NAME, demoBackfill } from './demo/email-risk-scores.js';
import { createCliLogger } from './logger.js';

/** Global flags every command accepts. */
export interface GlobalFlags {
  db?: string;
  config?: string;
  json?: boolean;
  verbose?: boolean;
  actor?: string;
}

export interface CliContext {
  sluice: Sluice;
  logger: Logger;
  actor: string;
  /** Draw progress bars and human tables (a terminal and no --json). */
  interactive: boolean;
  json: boolean;
  dbPath: string;
  /** Runs `close` before the engine and the store close (observers, servers), last registered first. */
  onClose(close: () => Promise<void>): void;
  close(): Promise<void>;
}

/** The store location: a PostgreSQL URL as given, or an absolute SQLite path. */
export function dbPathOf(flags: GlobalFlags): string {
  const db = flags.db ?? process.env.SLUICE_DB ?? '.sluice/sluice.db';
  if (isPostgresUrl(db)) return db;
  refuseUnservedUrl(db, flags.db !== undefined ? '--db' : 'SLUICE_DB');
  return resolve(db);
}

/**
 * A URL of any other scheme (`mysql://…`, `sqlite://…`, `file://…`) would otherwise be taken for a
 * relative path, and `run` would create its directories (`mysql:/host/`): it is a usage error.
 */
function refuseUnservedUrl(db: string, what: string): void {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(db)?.[1];
  if (scheme === undefined) return;
  throw new UsageError(
    `${what} ${db}: Sluice has no store for "${scheme}://" URLs; give postgres://… (or postgresql://…) for a PostgreSQL store, or a file path for an SQLite store`,
  );
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * SQLite file by default; `postgres://…` for a store shared by workers (schema from SLUICE_PG_SCHEMA,
 * default `sluice`; SLUICE_PG_POOL_SIZE connections, default 10; SLUICE_PG_PREPARED=false for
 * poolers without prepared statements; SLUICE_PG_ASYNC_COMMIT=false for batch transactions that
 * wait for their WAL flush; the waits from SLUICE_PG_CONNECT_TIMEOUT,
 * SLUICE_PG_QUERY_TIMEOUT, SLUICE_PG_STATEMENT_TIMEOUT and SLUICE_PG_IDLE_IN_TRANSACTION_TIMEOUT).
 */
export async function openStore(db: string): Promise<Store> {
  if (!isPostgresUrl(db)) return openSqliteStore(db, { integrityCheck: integrityCheckOf(process.env) });
  const schema = process.env.SLUICE_PG_SCHEMA;
  if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(schema))
    throw new UsageError(`SLUICE_PG_SCHEMA must be a plain identifier, got "${schema}"`);
  const prepared = process.env.SLUICE_PG_PREPARED;
  if (prepared !== undefined && !['true', 'false', '1', '0'].includes(prepared)) {
    throw new UsageError(
      `SLUICE_PG_PREPARED must be true or false, got "${prepared}" (false: behind PgBouncer in transaction mode without prepared-statement support)`,
    );
  }
  const asyncCommit = process.env.SLUICE_PG_ASYNC_COMMIT;
  if (asyncCommit !== undefined && !['true', 'false', '1', '0'].includes(asyncCommit)) {
    throw new UsageError(
      `SLUICE_PG_ASYNC_COMMIT must be true or false, got "${asyncCommit}" (false: batch transactions wait for their WAL flush)`,
    );
  }
  const poolSize = process.env.SLUICE_PG_POOL_SIZE;
  if (poolSize !== undefined && !/^[1-9][0-9]{0,3}$/.test(poolSize)) {
    throw new UsageError(
      `SLUICE_PG_POOL_SIZE must be a whole number of connections from 1 to 9999, got "${poolSize}" (each lane uses up to 2: give 2 × --concurrency + 2)`,
    );
  }
  return openPostgresStore({
    connectionString: db,
    ...postgresTimeoutsFromEnv(process.env),
    ...(schema ? { schema } : {}),
    ...(prepared !== undefined ? { preparedStatements: prepared === 'true' || prepared === '1' } : {}),
    ...(poolSize !== undefined ? { poolSize: Number(poolSize) } : {}),
    ...(asyncCommit !== undefined ? { asyncBatchCommit: asyncCommit === 'true' || asyncCommit === '1' } : {}),
  });
}

/** The PostgreSQL store's waits set in the environment (durations; 0 turns off the two that allow it). */
export function postgresTimeoutsFromEnv(env: NodeJS.ProcessEnv): PostgresTimeouts {
  const read = (name: string, mayBeZero: boolean): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (mayBeZero && value.trim() === '0') return 0;
    const ms = parseDuration(value, name);
    if (ms <= 0)
      throw new UsageError(
        `${name} must be a duration above 0 like 500ms, 10s or 2m${mayBeZero ? ' (or 0: no bound)' : ''}, got "${value}"`,
      );
    return ms;
  };
  const timeouts: PostgresTimeouts = {
    connectTimeoutMs: read('SLUICE_PG_CONNECT_TIMEOUT', false),
    queryTimeoutMs: read('SLUICE_PG_QUERY_TIMEOUT', false),
    statementTimeoutMs: read('SLUICE_PG_STATEMENT_TIMEOUT', true),
    idleInTransactionTimeoutMs: read('SLUICE_PG_IDLE_IN_TRANSACTION_TIMEOUT', true),
  };
  return Object.fromEntries(Object.entries(timeouts).filter(([, v]) => v !== undefined));
}

/** SLUICE_SQLITE_CHECK: how an existing SQLite store is checked when it is opened (quick by default). */
function integrityCheckOf(env: NodeJS.ProcessEnv): IntegrityCheck {
  const value = env.SLUICE_SQLITE_CHECK;
  if (value === undefined || value === '') return 'quick';
  if (!(INTEGRITY_CHECKS as readonly string[]).includes(value)) {
    throw new UsageError(`SLUICE_SQLITE_CHECK must be quick, full or off, got "${value}"`);
  }
  return value as IntegrityCheck;
}

/** What to do when no backfill is defined (the demo's comes only with `sluice demo`). */
export const NO_BACKFILLS_HINT =
  'no backfills are defined: add them to sluice.config.ts (or pass --config FILE); `sluice demo` runs the built-in demo';

/** What a command needs of its context. */
export interface ContextOptions {
  /** Load the config file (commands that execute a backfill); store-only commands work without one. */
  needsConfig: boolean;
  /** Create the SQLite store when the file does not exist yet (run, demo, worker); other commands never write a new file. */
  createStore?: boolean;
  /** The backfill the command executes: an unknown name is refused before anything is opened or written. */
  backfill?: string;
  leaseMs?: number;
  /** `sluice demo`: register the demo backfill whatever the store holds. */
  demo?: boolean;
}

/** The backfills the config defines (none without a config, or when `needsConfig` is false). */
export async function loadBackfills(flags: GlobalFlags, needsConfig: boolean): Promise<BackfillDefinition<unknown>[]> {
  const configPath = findConfig(flags.config);
  return configPath && needsConfig ? loadConfig(configPath) : [];
}

/**
 * Opens the store and builds the engine over the config's backfills (when `needsConfig`) and the
 * demo's. The demo is registered by `sluice demo`, and in a store where it has a run (so that the
 * demo's runs can be resumed, planned, verified and reported like any other); never otherwise, so
 * that it stays out of a project's backfills, metrics and SLOs. Everything that can be refused
 * without the store (the config, the backfill's name, a store file that is not there for a command
 * that only reads) is refused before it is opened.
 */
export async function openContext(flags: GlobalFlags, options: ContextOptions): Promise<CliContext> {
  const json = flags.json === true;
  const interactive = !json && process.stdout.isTTY === true;
  const logger = createCliLogger({ verbose: flags.verbose === true, interactive });
  const configured = await loadBackfills(flags, options.needsConfig);
  const dbPath = dbPathOf(flags);
  const storeExists = isPostgresUrl(dbPath) || existsSync(dbPath);
  // A store file that is not there yet holds no demo run: the name is checked before it is created.
  if (!storeExists && !options.demo) refuseUnknownBackfill(options.backfill, configured);
  if (!options.createStore && !storeExists) {
    throw new NotFoundError(`no store at ${dbPath}`, {
      hint: 'pass --db (or set SLUICE_DB) to the store your runs are in; `sluice run` and `sluice demo` create one',
    });
  }
  const store = await openStore(dbPath);
  let sluice: Sluice;
  try {
    const backfills = options.demo ? withDemo(configured) : await withDemoWhereItRan(store, configured);
    refuseUnknownBackfill(options.backfill, backfills);
    sluice = createSluice({
      store,
      backfills,
      logger,
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
    });
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  const closers: Array<() => Promise<void>> = [];
  return {
    sluice,
    logger,
    actor: flags.actor ?? process.env.USER ?? 'cli',
    interactive,
    json,
    dbPath,
    onClose: (close) => closers.unshift(close),
    // Observers first, then the engine: it closes the backfills' health signals (their connections would keep the process alive).
    close: async () => {
      for (const close of closers) await close().catch((error: unknown) => logger.warn({ err: error }, 'closing failed'));
      await sluice.close().catch(() => undefined);
      await store.close();
    },
  };
}

/** The engine's own words (Sluice.backfill) for a name it does not know, said before it is built. */
function refuseUnknownBackfill(name: string | undefined, backfills: readonly BackfillDefinition<unknown>[]): void {
  if (name === undefined || backfills.some((d) => d.name === name)) return;
  throw new NotFoundError(`unknown backfill "${name}"`, {
    hint: backfills.length > 0 ? `defined backfills: ${backfills.map((d) => d.name).join(', ')}` : NO_BACKFILLS_HINT,
  });
}

function withDemo(backfills: BackfillDefinition<unknown>[]): BackfillDefinition<unknown>[] {
  return [demoBackfill as BackfillDefinition<unknown>, ...backfills];
}

/** The backfills, and the demo's when `sluice demo` has recorded a run in this store. */
async function withDemoWhereItRan(store: Store, backfills: BackfillDefinition<unknown>[]): Promise<BackfillDefinition<unknown>[]> {
  return (await store.listRuns({ backfill: DEMO_BACKFILL_NAME, limit: 1 })).length > 0 ? withDemo(backfills) : backfills;
}

/**
 * What `list --backfills`, `slo rules` and `slo dashboard` show: the config's backfills, and the
 * demo's in a store where it has run, as the commands that open the engine see them. A store that
 * is not there is not created.
 */
export async function definedBackfills(flags: GlobalFlags): Promise<BackfillDefinition<unknown>[]> {
  const configured = await loadBackfills(flags, true);
  const dbPath = dbPathOf(flags);
  if (!isPostgresUrl(dbPath) && !existsSync(dbPath)) return configured;
  const store = await openStore(dbPath);
  try {
    return await withDemoWhereItRan(store, configured);
  } finally {
    await store.close();
  }
}
