export { openSqliteStore, SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { SqliteConnection } from './sqlite-connection.js';
export { sqliteDatabase } from './batch-database.js';
export { assertStoreFileSound, INTEGRITY_CHECKS, type IntegrityCheck, storeFileProblems } from './store-file-check.js';
