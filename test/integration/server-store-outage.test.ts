import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSluice } from '../../src/index.js';
import { RunMetrics } from '../../src/observe.js';
import { silentLogger } from '../../src/core/logger.js';
import { buildServer } from '../../src/server/server.js';
import { createToken } from '../../src/server/tokens.js';
import { openPostgresStore, type PostgresStore } from '../../src/stores/postgres/index.js';
import { TEST_PG, testSchema } from '../helpers/postgres.js';
import { waitFor } from '../helpers/temp.js';
import { switchableProxy } from '../helpers/unresponsive.js';

/** The API's promise while its store cannot answer: 503 within 5 s, for every token, and back by itself. */
const ANSWER_BOUND_MS = 5_000;

async function get(url: string, token?: string) {
  const started = Date.now();
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(30_000) });
  const json = (await response.json()) as Record<string, unknown>;
  return { status: response.status, json, ms: Date.now() - started, retryAfter: response.headers.get('retry-after') };
}

describe('the admin API over a PostgreSQL store that goes down or hangs (behind a switchable proxy)', () => {
  let proxy: Awaited<ReturnType<typeof switchableProxy>>;
  let store: PostgresStore;
  let cleanup: () => Promise<void>;
  let close: () => Promise<void>;
  let base: string;
  let token: string;
  // Well formed, but in no store: checking it needs the store.
  const unknownToken = `slc_${'a'.repeat(12)}_${'b'.repeat(43)}`;

  before(async () => {
    const target = new URL(TEST_PG);
    proxy = await switchableProxy(Number(target.port || 5432), target.hostname);
    const schema = await testSchema('outage');
    cleanup = schema.cleanup;
    const url = new URL(TEST_PG);
    url.port = String(proxy.port);
    store = await openPostgresStore({ connectionString: url.toString(), schema: schema.schema });
    token = (await createToken(store, { name: 'reader', scope: 'read', createdBy: 'test' })).token;
    const sluice = createSluice({ store, backfills: [], logger: silentLogger });
    const { app } = buildServer({ sluice, metrics: new RunMetrics({ defaultMetrics: false }) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    close = async () => {
      await app.close();
      await sluice.close();
      await store.close();
    };
  });
  after(async () => {
    await proxy.restore();
    await close?.();
    await proxy.close();
    await cleanup?.();
  });

  const readyAgain = async () => {
    await waitFor(async () => (await get(`${base}/readyz`)).status === 200, '/readyz to answer 200 again', 20_000, 100);
    const runs = await get(`${base}/api/v1/runs`, token);
    assert.equal(runs.status, 200, JSON.stringify(runs.json));
  };

  it('answers as usual while the store answers', async () => {
    assert.equal((await get(`${base}/readyz`)).status, 200);
    assert.equal((await get(`${base}/api/v1/runs`, token)).status, 200);
    assert.equal((await get(`${base}/api/v1/runs`, unknownToken)).status, 401);
  });

  it('port closed: /readyz and the API answer 503 (store_unavailable) for a valid and an unknown token, 401 without one; back by itself once the port reopens', async () => {
    await proxy.closePort();
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 503, JSON.stringify(ready.json));
    assert.match(String(ready.json.error), /store does not answer/);
    for (const presented of [token, unknownToken]) {
      const answer = await get(`${base}/api/v1/runs`, presented);
      assert.equal(answer.status, 503, `${presented === token ? 'valid' : 'unknown'} token: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.json.error, 'store_unavailable');
      assert.match(String(answer.json.message), /the store does not answer/);
      assert.equal(answer.retryAfter, '5');
      assert.ok(answer.ms < ANSWER_BOUND_MS, `answered in ${answer.ms} ms`);
    }
    assert.equal((await get(`${base}/api/v1/runs`)).status, 401, 'no token: refused without asking the store');
    await proxy.restore();
    await readyAgain();
  });

  it('hung (nothing passes, connections accepted): /readyz and the API answer 503 within 5 s, for a valid and an unknown token; back by itself once it answers', async () => {
    proxy.freeze();
    const [ready, valid, unknown] = await Promise.all([
      get(`${base}/readyz`),
      get(`${base}/api/v1/runs`, token),
      get(`${base}/api/v1/runs`, unknownToken),
    ]);
    assert.equal(ready.status, 503, JSON.stringify(ready.json));
    assert.ok(ready.ms < ANSWER_BOUND_MS, `/readyz answered in ${ready.ms} ms`);
    for (const answer of [valid, unknown]) {
      assert.equal(answer.status, 503, JSON.stringify(answer.json));
      assert.equal(answer.json.error, 'store_unavailable');
      assert.ok(answer.ms < ANSWER_BOUND_MS, `the API answered in ${answer.ms} ms`);
    }
    // Again, with the pool's connections all stuck in the first requests' statements.
    const again = await get(`${base}/api/v1/runs`, token);
    assert.equal(again.status, 503);
    assert.ok(again.ms < ANSWER_BOUND_MS, `answered in ${again.ms} ms`);
    await proxy.restore();
    await readyAgain();
  });
});
