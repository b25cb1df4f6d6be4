// `sluice/sqlite`: the embedded store, one SQLite file (the default of the CLI). Its own entry point,
// so that a service that stores its runs in PostgreSQL never loads better-sqlite3.
export { openSqliteStore, SqliteStore, type SqliteStoreOptions } from './stores/sqlite/index.js';
export { SqliteConnection, sqliteDatabase } from './stores/sqlite/index.js';
// The store file's integrity check, as `sluice store check` runs it: which checks there are, and the problems one finds.
export { INTEGRITY_CHECKS, storeFileProblems, type IntegrityCheck } from './stores/sqlite/index.js';
