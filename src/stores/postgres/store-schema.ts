import type pg from 'pg';
import { isSluiceError, isTransientStoreError, LeaseLostError, StoreError } from '../../core/errors.js';
import { quoteIdentifier } from '../../core/sql.js';
import type { StoreDatabase } from '../../core/store.js';
import { POSTGRES_COLUMNS } from '../shared/column-decoding.js';
import { rowReaders } from '../shared/run-rows.js';
import { type StoreTable, TABLES } from '../shared/store-statements.js';
import { PostgresConnection } from './postgres-connection.js';
import { type PostgresTimeouts, resolveTimeouts, timeoutError, userStatementTimeout } from './timeouts.js';

/** Set by the checkpoint when it sent the transaction's COMMIT itself. */
export interface TransactionEnding {
  committed: boolean;
}

/**
 * The store's schema on a pool, which every part of the PostgreSQL store works on: its tables'
 * qualified names, the database's clock, and how an operation queries (`q`) or runs a transaction
 * (`inTransaction`), with the driver's errors and timeouts turned into `StoreError`s.
 */
export class PostgresStoreSchema implements StoreDatabase {
  readonly dialect = 'postgres' as const;
  readonly read: PostgresConnection;
  /** Sluice's tables, schema-qualified and quoted. */
  readonly t: Readonly<Record<StoreTable, string>>;
  /** The schema's name, quoted. */
  readonly schemaName: string;
  readonly timeouts: Required<PostgresTimeouts>;
  /** The client-side bound of the user's statements (`ctx.tx`, source reads, checks). */
  readonly userTimeoutMs: number;
  /** `BEGIN` of a batch transaction: with `synchronous_commit = off` for this transaction only (see `asyncBatchCommit`). */
  readonly beginBatch: string;
  /** Whether closing the store ends its pool (not the service's own). */
  private readonly ownsPool: boolean;
  private closed = false;

  constructor(
    readonly pool: pg.Pool,
    readonly schema: string,
    readonly location: string,
    /** Whether per-batch statements run as named prepared statements. */
    readonly prepare = true,
    timeouts: PostgresTimeouts = {},
    settings: { ownsPool: boolean; asyncBatchCommit?: boolean } = { ownsPool: true },
  ) {
    this.ownsPool = settings.ownsPool;
    // One round trip for both statements: SET LOCAL ends with the transaction, so the pooled
    // connection goes back with the server's setting.
    this.beginBatch = (settings.asyncBatchCommit ?? true) ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN';
    this.timeouts = resolveTimeouts(timeouts);
    this.userTimeoutMs = userStatementTimeout(this.timeouts);
    const s = quoteIdentifier(schema, 'schema');
    this.schemaName = s;
    this.t = Object.fromEntries(Object.entries(TABLES).map(([name, table]) => [name, `${s}.${table}`])) as Record<StoreTable, string>;
    this.read = new PostgresConnection(pool, this.userTimeoutMs);
  }

  readConnection(): PostgresConnection {
    return this.read;
  }

  async clockNow(): Promise<number> {
    const { rows } = await this.q<{ now: Date }>('SELECT now() AS now');
    return rows[0]!.now.getTime();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  async q<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    this.assertOpen();
    try {
      return await this.pool.query<Row>(text, params);
    } catch (error) {
      throw this.wrap(error);
    }
  }

  async inTransaction<T>(
    work: (client: pg.PoolClient, ending: TransactionEnding) => Promise<T>,
    rollback = false,
    begin = 'BEGIN',
  ): Promise<T> {
    this.assertOpen();
    const client = await this.pool.connect().catch((error: unknown) => {
      throw this.wrap(error);
    });
    // A connection that dies while checked out (between the queries of a batch) emits 'error' on
    // the client; the next query rejects with it anyway, so the event only needs a listener.
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    const ending: TransactionEnding = { committed: false };
    try {
      await client.query(begin);
      const result = await work(client, ending);
      // The checkpoint may have sent the COMMIT with itself (one round trip for both).
      if (!ending.committed) await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (error) {
      if (isTransientStoreError(error)) broken ??= error as Error;
      if (!broken) await client.query('ROLLBACK').catch(() => undefined);
      throw timeoutError(error, this.location, this.timeouts) ?? error;
    } finally {
      client.off('error', onError);
      // A broken connection is destroyed, not handed back to the pool.
      client.release(broken);
    }
  }

  /** Transaction-scoped advisory locks on concurrency key values, in sorted order (no deadlock between two lockers). */
  async lockKeys(client: pg.PoolClient, scope: string, keys: ReadonlyArray<{ name: string; value: string }>): Promise<void> {
    const names = [...new Set(keys.map((k) => `sluice:${this.schema}:${scope}:${k.name}=${k.value}`))].sort();
    for (const name of names) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [name]);
  }

  wrap(error: unknown): Error {
    if (isSluiceError(error) || error instanceof LeaseLostError) return error as Error;
    const timedOut = timeoutError(error, this.location, this.timeouts);
    if (timedOut) return timedOut;
    return new StoreError(`store ${this.location}: ${(error as Error).message}`, { cause: error });
  }

  assertOpen(): void {
    if (this.closed) throw new StoreError(`store ${this.location} is closed`);
  }
}

/** A timestamptz column as ms since the epoch, the shape the history rows share with SQLite. */
export function MS(column: string): string {
  return `(extract(epoch from ${column}) * 1000)::float8`;
}

/** The store's rows as Sluice's records (jsonb parsed, timestamptz as Date, bigint as text). */
export const decode = rowReaders(POSTGRES_COLUMNS);
