import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../../src/core/errors.js';
import { openSqliteStore } from '../../src/stores/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';
import { storeContract } from './store-contract.js';

storeContract('SQLite', async () => {
  const { dir, cleanup } = await tempDir();
  return { store: await openSqliteStore(join(dir, 'nested', 'dir', 'store.db')), cleanup };
});

describe('SQLite store specifics', () => {
  it('uses WAL and creates parent directories', async () => {
    const { dir, cleanup } = await tempDir();
    const store = await openSqliteStore(join(dir, 'a', 'b', 'store.db'));
    const [mode] = await store.readConnection().query<{ journal_mode: string }>('PRAGMA journal_mode');
    assert.equal(mode?.journal_mode, 'wal');
    await store.close();
    await store.close();
    await cleanup();
  });

  it('refuses a file that is not a SQLite database with a clear StoreError', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'garbage.db');
    writeFileSync(path, 'hello, this is not a database'.repeat(100));
    await assert.rejects(openSqliteStore(path), (error: unknown) =>
      error instanceof StoreError && error.message.includes(path) && /not a SQLite database/.test(error.message) && /--db/.test(error.hint ?? ''));
    await cleanup();
  });

  it('refuses a store written by a newer Sluice', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'future.db');
    (await openSqliteStore(path)).close();
    const db = new Database(path);
    db.prepare("INSERT INTO sluice_schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')").run();
    db.close();
    await assert.rejects(openSqliteStore(path), /schema version 999, newer than this Sluice knows/);
    await cleanup();
  });

  it('opens an existing database holding the user\'s own tables, and reopens its own store', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'app.db');
    const db = new Database(path);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY)');
    db.close();
    const store = await openSqliteStore(path);
    await store.close();
    const again = await openSqliteStore(path);
    assert.deepEqual(await again.listRuns(), []);
    await again.close();
    await cleanup();
  });
});
