export { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { PostgresConnection, toPostgresPlaceholders } from './postgres-connection.js';
