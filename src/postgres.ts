// `sluice/postgres`: the PostgreSQL store (many workers on many machines share its runs), a
// PostgreSQL connection for `sqlKeyset` reads, and the database's health signal for the throttle.
// Its own entry point, so that users of the embedded store never load pg.
export { openPostgresStore, PostgresStore, type PostgresStoreOptions, type PostgresTimeouts } from './stores/postgres/index.js';
export { PostgresConnection } from './stores/postgres/index.js';
export { pgClient, pgTransactionPool, type BatchTransactionClient } from './stores/postgres/index.js';
export { postgresHealth, type PostgresHealthOptions } from './signals/postgres-health.js';
