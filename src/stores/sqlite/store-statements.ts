import type { SqlValue } from '../../core/sql.js';
import { type StoreStatements, TABLES } from '../shared/store-statements.js';
import { decode, type SqliteStoreFile } from './store-file.js';

/** The statements both stores share, on the store file: reads on the read connection, writes in turn under the write lock, now from the store's clock. */
export class SqliteStatements implements StoreStatements {
  readonly t = TABLES;
  readonly decode = decode;

  constructor(private readonly file: SqliteStoreFile) {}

  now(): { sql: string; params: SqlValue[] } {
    return { sql: '?', params: [this.file.iso()] };
  }

  async read<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.file.reading(() => this.file.read.querySync(sql, params) as Row[]);
  }

  write(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.file.writing(() => this.file.write.executeSync(sql, params).changes);
  }

  writeReturning<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.file.writing(() => this.file.write.querySync(sql, params) as Row[]);
  }
}
