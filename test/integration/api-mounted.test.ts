import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { createSluice, type Sluice } from '../../src/index.js';
import { RunMetrics } from '../../src/observe.js';
import { createToken, sluiceApi } from '../../src/server.js';
import { openSqliteStore, type SqliteStore } from '../../src/sqlite.js';
import { numbered } from '../helpers/api.js';
import { tempDir } from '../helpers/temp.js';

/** The admin API mounted into a service's own Fastify app under a prefix, next to the service's routes. */
describe("the admin API mounted in a service's Fastify app", () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let sluice: Sluice;
  let url: string;
  let token: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ cleanup } = await tempDir().then(async (t) => {
      store = await openSqliteStore(join(t.dir, 'store.db'));
      return t;
    }));
    sluice = createSluice({ store, backfills: [numbered('quick', 50, 0)] });
    app = Fastify();
    // The service's own routes, before and beside the mounted API.
    app.get('/hello', async () => ({ hello: 'world' }));
    app.post('/upload', async (request) => ({ bytes: JSON.stringify(request.body).length }));
    await app.register(sluiceApi, { prefix: '/admin/sluice', sluice, metrics: new RunMetrics({ defaultMetrics: false }), bodyLimit: 1024 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    token = (await createToken(store, { name: 'ops', scope: 'write', createdBy: 'test' })).token;
  });
  after(async () => {
    await app.close();
    await sluice.close();
    await store.close();
    await cleanup();
  });

  it('answers under the prefix with its own auth, and starts a run', async () => {
    assert.equal((await fetch(`${url}/admin/sluice/api/v1/runs`)).status, 401);
    const started = await fetch(`${url}/admin/sluice/api/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backfill: 'quick', params: { tenant: 'acme' } }),
    });
    assert.equal(started.status, 201, await started.clone().text());
    const runs = await fetch(`${url}/admin/sluice/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(runs.status, 200);
    assert.equal(((await runs.json()) as { runs: unknown[] }).runs.length, 1);
    const document = (await (
      await fetch(`${url}/admin/sluice/api/v1/openapi.json`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { servers: Array<{ url: string }> };
    assert.deepEqual(document.servers, [{ url: '/admin/sluice' }], 'the document says where the API is mounted');
    assert.equal((await fetch(`${url}/admin/sluice/healthz`)).status, 200);
    // An error's hint names the route under the prefix.
    const missing = await fetch(`${url}/admin/sluice/api/v1/runs/r_nosuchrun/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { hint: string }).hint, 'list runs with `GET /admin/sluice/api/v1/runs`');
  });

  it("leaves the service's own routes alone: no token, no body limit of its own, no cache headers", async () => {
    const hello = await fetch(`${url}/hello`);
    assert.equal(hello.status, 200);
    assert.deepEqual(await hello.json(), { hello: 'world' });
    assert.equal(hello.headers.get('cache-control'), null);
    const big = JSON.stringify({ data: 'x'.repeat(4096) });
    assert.equal(
      (await fetch(`${url}/upload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })).status,
      200,
    );
    const refused = await fetch(`${url}/admin/sluice/api/v1/plan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: big,
    });
    assert.equal(refused.status, 413, 'the mounted API keeps its own body limit');
  });

  it('serves the dashboard at the prefix with relative links, redirecting the address without its slash', async () => {
    const bare = await fetch(`${url}/admin/sluice`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), '/admin/sluice/');
    const page = await fetch(`${url}/admin/sluice/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /src="assets\/app\.js"/);
    assert.doesNotMatch(html, /(src|href)="\/(assets|api)/, 'no link escapes the prefix');
    assert.equal((await fetch(`${url}/admin/sluice/assets/app.js`)).status, 200);
    assert.match(html, /href="favicon\.svg"/, 'the favicon is named relative to the prefix');
    assert.equal((await fetch(`${url}/admin/sluice/favicon.svg`)).status, 200);
  });
});
