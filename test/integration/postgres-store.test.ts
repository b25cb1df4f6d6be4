import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreError } from '../../src/core/errors.js';
import { openPostgresStore, toPostgresPlaceholders } from '../../src/stores/postgres/index.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { storeContract } from './store-contract.js';

storeContract('PostgreSQL', async () => {
  const { schema, cleanup } = await testSchema('store');
  const store = await openPostgresStore({ connectionString: TEST_PG, schema, searchPath: schema });
  return { store, cleanup };
});

describe('PostgreSQL store specifics', () => {
  it('translates ? placeholders, leaving quoted text and comments alone', () => {
    assert.equal(toPostgresPlaceholders("SELECT ? , '?' , \"a?\" -- ?\n, ?"), "SELECT $1 , '?' , \"a?\" -- ?\n, $2");
  });

  it('says clearly when the server cannot be reached, without the password', async () => {
    await assert.rejects(openPostgresStore({ connectionString: 'postgres://u:secret@127.0.0.1:1/none' }), (e: unknown) =>
      e instanceof StoreError && /cannot open the PostgreSQL store at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/none/.test(e.message) && !e.message.includes('secret'));
  });

  it('migrates once when several workers open the store together', async () => {
    const { schema, cleanup } = await testSchema('mig');
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ connectionString: TEST_PG, schema })));
    assert.deepEqual(await stores[0]!.listRuns(), []);
    await Promise.all(stores.map((s) => s.close()));
    await cleanup();
  });
});
