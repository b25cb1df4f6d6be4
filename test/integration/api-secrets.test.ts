import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createSluice } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { RunMetrics } from '../../src/observe.js';
import type { Store } from '../../src/index.js';
import { buildServer } from '../../src/server/server.js';
import { createToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { numbered } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const SECRET = 'TopSecret99';

/** A server over `store` whose log lines are collected. */
async function serve(store: Store) {
  const lines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  const sluice = createSluice({ store, backfills: [numbered('quick', 10, 0)], logger });
  const { app } = buildServer({ sluice, metrics: new RunMetrics({ defaultMetrics: false }), logger });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const token = (await createToken(store, { name: 'reader', scope: 'read', createdBy: 'test' })).token;
  const get = async (path: string) => {
    const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, text: await response.text() };
  };
  return {
    get,
    lines,
    close: async () => {
      await app.close();
      await sluice.close();
    },
  };
}

describe('secrets and store locations stay out of answers and logs', () => {
  it('a password in the query of the PostgreSQL URL never reaches /readyz, an API answer or the server log', async () => {
    const { schema, cleanup } = await testSchema('secret');
    // Trust auth ignores the password: the store opens, and its location must not carry it.
    const store = await openPostgresStore({ connectionString: `${TEST_PG}?password=${SECRET}`, schema });
    const server = await serve(store);
    try {
      assert.ok(!store.location.includes(SECRET), store.location);
      const missing = await server.get('/api/v1/runs/r_nothere');
      assert.equal(missing.status, 404);
      assert.match(missing.text, /no run \\"r_nothere\\"/);
      assert.ok(!missing.text.includes('127.0.0.1') && !missing.text.includes('postgres'), `a 404 names the run only: ${missing.text}`);
      // The store stops answering: readiness and every API route fail, and say so without the secret.
      await store.close();
      const ready = await server.get('/readyz');
      assert.equal(ready.status, 503);
      const runs = await server.get('/api/v1/runs');
      assert.ok(runs.status >= 500, runs.text);
      for (const text of [ready.text, runs.text, ...server.lines]) assert.ok(!text.includes(SECRET), `a secret leaked: ${text}`);
      assert.ok(!ready.text.includes('127.0.0.1:5432'), `/readyz names no store location: ${ready.text}`);
    } finally {
      await server.close();
      await cleanup();
    }
  });

  it('a 404 of the API names the run, never the SQLite file', async () => {
    const { dir, cleanup } = await tempDir();
    const store = await openSqliteStore(join(dir, 'hidden-place.db'));
    const server = await serve(store);
    try {
      for (const path of ['/api/v1/runs/r_x', '/api/v1/runs/r_x/batches', '/api/v1/runs/r_x/quarantine']) {
        const answer = await server.get(path);
        assert.equal(answer.status, 404, `${path}: ${answer.text}`);
        assert.ok(!answer.text.includes(dir) && !answer.text.includes('hidden-place'), `${path}: ${answer.text}`);
      }
    } finally {
      await server.close();
      await store.close();
      await cleanup();
    }
  });

  it('a start-up error of the CLI prints the URL without a password that holds "@"', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const result = await runCli(['list', '--db', 'postgres://postgres:Xy@zzy42@127.0.0.1:1/db?sslpassword=Other77'], { cwd: dir });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/db/);
      assert.ok(!result.stderr.includes('zzy42') && !result.stderr.includes('Other77'), result.stderr);
    } finally {
      await cleanup();
    }
  });
});
