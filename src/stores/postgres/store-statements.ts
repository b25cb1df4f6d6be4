import { postgresStatement } from '../../core/placeholders.js';
import type { SqlValue } from '../../core/sql.js';
import type { StoreStatements } from '../shared/store-statements.js';
import { decode, type PostgresStoreSchema } from './store-schema.js';

/** The statements both stores share, on the store's schema: `?` placeholders numbered, now the database's clock. */
export class PostgresStatements implements StoreStatements {
  readonly t: PostgresStoreSchema['t'];
  readonly decode = decode;

  constructor(private readonly db: PostgresStoreSchema) {
    this.t = db.t;
  }

  now(): { sql: string; params: SqlValue[] } {
    return { sql: 'now()', params: [] };
  }

  async read<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await this.db.q(postgresStatement(sql, params.length), [...params])).rows as Row[];
  }

  async write(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.db.q(postgresStatement(sql, params.length), [...params])).rowCount ?? 0;
  }

  writeReturning<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.read<Row>(sql, params);
  }
}
