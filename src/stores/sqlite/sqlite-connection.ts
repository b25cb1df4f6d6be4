import type { Database, Statement } from 'better-sqlite3';
import { UsageError } from '../../core/errors.js';
import type { SqlRow, SqlTransaction, SqlValue } from '../../core/sql.js';

/**
 * The core's SQL surface over a better-sqlite3 connection. better-sqlite3 is synchronous; the
 * promises only give SQLite the same shape as PostgreSQL. Statements are prepared once and cached.
 */
export class SqliteConnection implements SqlTransaction {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();

  constructor(readonly raw: Database) {}

  prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.raw.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async query<Row extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.querySync<Row>(sql, params);
  }

  querySync<Row extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Row[] {
    return this.prepare(sql).all(...params.map(toSqlite)) as Row[];
  }

  async execute(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return this.executeSync(sql, params);
  }

  executeSync(sql: string, params: readonly SqlValue[] = []): { changes: number } {
    return { changes: this.prepare(sql).run(...params.map(toSqlite)).changes };
  }

  async executeMany(sql: string, paramsList: readonly (readonly SqlValue[])[]): Promise<{ changes: number }> {
    const statement = this.prepare(sql);
    let changes = 0;
    for (const params of paramsList) changes += statement.run(...params.map(toSqlite)).changes;
    return { changes };
  }
}

/** better-sqlite3 binds numbers, bigints, strings, buffers and null; map the rest. */
function toSqlite(value: SqlValue): string | number | bigint | Buffer | null {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (isArray(value)) {
    // Refused rather than JSON-encoded in silence: the same statement would then mean one thing on PostgreSQL and another here.
    throw new UsageError(`SQLite has no array type, but a parameter is an array (${value.length} values)`, {
      code: 'SQL_ARRAY_PARAMETER',
      hint: 'pass JSON.stringify(values) and read it with json_each(?) (e.g. WHERE id IN (SELECT value FROM json_each(?))), or one parameter per value',
    });
  }
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** `Array.isArray` does not narrow a readonly array out of a union. */
function isArray(value: SqlValue): value is readonly SqlValue[] {
  return Array.isArray(value);
}
