import type pg from 'pg';
import { numberPlaceholders, postgresStatement } from '../../core/placeholders.js';
import type { SqlRow, SqlSnapshot, SqlTransaction, SqlValue } from '../../core/sql.js';

/** Translates `?` placeholders into `$1, $2, …` (kept for callers of the old name). */
export const toPostgresPlaceholders = numberPlaceholders;

/**
 * The core's SQL surface over a `pg` pool or client. `queryTimeoutMs`: the client-side bound of
 * each statement run through it (the store gives the user's statements a bound of their own);
 * without it, the pool's.
 */
export class PostgresConnection implements SqlTransaction {
  readonly dialect = 'postgres' as const;

  constructor(
    readonly raw: pg.Pool | pg.PoolClient,
    private readonly queryTimeoutMs?: number,
  ) {}

  /** Runs `sql` as `postgresStatement` says: `$n` style and parameterless statements as written, `?` style numbered. */
  private run<Row extends SqlRow>(client: pg.Pool | pg.PoolClient, sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult<Row>> {
    const text = postgresStatement(sql, params.length);
    const values = params as unknown[];
    return this.queryTimeoutMs === undefined
      ? client.query<Row>(text, values)
      : client.query<Row>({ text, values, query_timeout: this.queryTimeoutMs } as pg.QueryConfig);
  }

  /** The pool, when this connection is one (a checked-out client runs its queries one after another). */
  private get pool(): pg.Pool | undefined {
    return 'totalCount' in this.raw ? this.raw : undefined;
  }

  hasSpareConnection(): boolean {
    // A pool runs queries side by side while it has an idle connection or room for one, and nobody is queued for it.
    const pool = this.pool;
    return pool !== undefined && pool.waitingCount === 0 && (pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? 10));
  }

  async query<Row extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await this.run<Row>(this.raw, sql, params)).rows;
  }

  /** A REPEATABLE READ, READ ONLY transaction on a connection of the pool, its snapshot taken before this returns. */
  async snapshot(): Promise<SqlSnapshot> {
    const pool = this.pool;
    if (!pool) throw new Error('a snapshot needs a pool: a checked-out client is busy with its own transaction');
    const client = await pool.connect();
    let released = false;
    const release = async (abort = false) => {
      if (released) return;
      released = true;
      if (abort) return client.release(new Error('snapshot aborted'));
      try {
        await client.query('COMMIT');
        client.release();
      } catch (error) {
        client.release(error as Error);
      }
    };
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The snapshot is taken by a transaction's first statement, not by BEGIN.
      await client.query('SELECT 1');
    } catch (error) {
      await release(true);
      throw error;
    }
    return {
      query: async <Row extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []) =>
        (await this.run<Row>(client, sql, params)).rows,
      release,
    };
  }

  async execute(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await this.run(this.raw, sql, params)).rowCount ?? 0 };
  }

  async executeMany(sql: string, paramsList: readonly (readonly SqlValue[])[]): Promise<{ changes: number }> {
    let changes = 0;
    for (const params of paramsList) changes += (await this.run(this.raw, sql, params)).rowCount ?? 0;
    return { changes };
  }
}
