import type pg from 'pg';
import type { SqlTransaction } from '../../core/sql.js';
import { batchTransactionOn } from '../batch-transaction.js';

/**
 * The `pg` client that holds the batch transaction (`ctx.tx`) of a transactional backfill on the
 * PostgreSQL store: what it runs commits with the checkpoint, or rolls back with it. Never
 * `release()` it, `BEGIN`/`COMMIT` on it or `end()` it; Sluice does.
 */
export function pgClient(ctx: { readonly tx: SqlTransaction | undefined }): pg.PoolClient {
  return batchTransactionOn(ctx, 'postgres', 'pgClient').raw as pg.PoolClient;
}

/** The client of `pgTransactionPool`: queries go to the batch transaction; `release()` keeps it. */
export interface BatchTransactionClient {
  query: pg.PoolClient['query'];
  release(): void;
}

/**
 * A pool of one for libraries that take a pool rather than a client (Kysely's `PostgresDialect`):
 * `connect()` gives the batch transaction's client, whose `release()` and the pool's `end()` do
 * nothing, so the library's queries all run in the batch transaction.
 */
export function pgTransactionPool(ctx: { readonly tx: SqlTransaction | undefined }): {
  connect(): Promise<BatchTransactionClient>;
  end(): Promise<void>;
} {
  const client = pgClient(ctx);
  const lent: BatchTransactionClient = {
    query: client.query.bind(client) as pg.PoolClient['query'],
    release: () => {},
  };
  return { connect: async () => lent, end: async () => {} };
}
