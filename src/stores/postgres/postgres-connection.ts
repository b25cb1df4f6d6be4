import type pg from 'pg';
import type { SqlConnection, SqlRow, SqlSnapshot, SqlTransaction, SqlValue } from '../../core/sql.js';

/**
 * Translates the core's `?` placeholders into PostgreSQL's `$1, $2, …`, leaving `?` inside
 * quoted strings, quoted identifiers and comments alone. Results are cached per statement text.
 */
const translated = new Map<string, string>();
export function toPostgresPlaceholders(sql: string): string {
  const cached = translated.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote) {
      out += c;
      if (c === quote) quote = null;
      else if (quote === '\n' && c === '\n') quote = null;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '-' && sql[i + 1] === '-') quote = '\n';
    if (c === '?' && !quote) out += `$${++n}`;
    else out += c;
  }
  if (translated.size > 1000) translated.clear();
  translated.set(sql, out);
  return out;
}

/**
 * The core's SQL surface over a `pg` pool or client. `queryTimeoutMs`: the client-side bound of
 * each statement run through it (the store gives the user's statements a bound of their own);
 * without it, the pool's.
 */
export class PostgresConnection implements SqlTransaction {
  readonly dialect = 'postgres' as const;

  constructor(readonly raw: pg.Pool | pg.PoolClient, private readonly queryTimeoutMs?: number) {}

  private run<Row extends SqlRow>(client: pg.Pool | pg.PoolClient, text: string, params: readonly SqlValue[]): Promise<pg.QueryResult<Row>> {
    const values = params as unknown[];
    return this.queryTimeoutMs === undefined ? client.query<Row>(text, values) : client.query<Row>({ text, values, query_timeout: this.queryTimeoutMs } as pg.QueryConfig);
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
    return (await this.run<Row>(this.raw, toPostgresPlaceholders(sql), params)).rows;
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
        (await this.run<Row>(client, toPostgresPlaceholders(sql), params)).rows,
      release,
    };
  }

  async execute(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await this.run(this.raw, toPostgresPlaceholders(sql), params)).rowCount ?? 0 };
  }

  async executeMany(sql: string, paramsList: readonly (readonly SqlValue[])[]): Promise<{ changes: number }> {
    let changes = 0;
    const text = toPostgresPlaceholders(sql);
    for (const params of paramsList) changes += (await this.run(this.raw, text, params)).rowCount ?? 0;
    return { changes };
  }
}
