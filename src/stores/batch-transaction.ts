import { UsageError } from '../core/errors.js';
import type { SqlDialect, SqlTransaction } from '../core/sql.js';

/**
 * The batch transaction of `ctx`, checked to be on `dialect`: what the typed client helpers of
 * each store (`pgClient`, `sqliteDatabase`) stand on. A clear error instead of a cast gone wrong.
 */
export function batchTransactionOn(ctx: { readonly tx: SqlTransaction | undefined }, dialect: SqlDialect, helper: string): SqlTransaction {
  const tx = ctx?.tx;
  if (tx === undefined) {
    throw new UsageError(
      `${helper}(ctx): this batch has no transaction: ctx.tx is only there when the backfill is defined with delivery: 'transactional'`,
      {
        code: 'NO_BATCH_TRANSACTION',
      },
    );
  }
  if (tx.dialect !== dialect) {
    const other = tx.dialect === 'postgres' ? 'pgClient(ctx) from sluice/postgres' : 'sqliteDatabase(ctx) from sluice/sqlite';
    throw new UsageError(
      `${helper}(ctx): the batch transaction is on ${tx.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'}, not ${dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'}: use ${other}`,
      {
        code: 'WRONG_STORE',
      },
    );
  }
  return tx;
}
