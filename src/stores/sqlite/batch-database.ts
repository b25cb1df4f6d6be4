import type { Database } from 'better-sqlite3';
import type { SqlTransaction } from '../../core/sql.js';
import { batchTransactionOn } from '../batch-transaction.js';

/**
 * The better-sqlite3 `Database` that holds the batch transaction (`ctx.tx`) of a transactional
 * backfill on the SQLite store: what it runs commits with the checkpoint, or rolls back with it.
 * Never `close()` it or `BEGIN`/`COMMIT` on it; Sluice does.
 */
export function sqliteDatabase(ctx: { readonly tx: SqlTransaction | undefined }): Database {
  return batchTransactionOn(ctx, 'sqlite', 'sqliteDatabase').raw as Database;
}
