// `sluice/sqlite`: the embedded store, one SQLite file (the default of the CLI). Its own entry point,
// so that a service that stores its runs in PostgreSQL never loads better-sqlite3.
export { openSqliteStore, SqliteStore, type SqliteStoreOptions } from './stores/sqlite/index.js';
export { SqliteConnection, sqliteDatabase } from './stores/sqlite/index.js';
