export { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { PostgresConnection, toPostgresPlaceholders } from './postgres-connection.js';
export { DEFAULT_POSTGRES_TIMEOUTS, type PostgresTimeouts } from './timeouts.js';
export { pgClient, pgTransactionPool, type BatchTransactionClient } from './batch-client.js';
