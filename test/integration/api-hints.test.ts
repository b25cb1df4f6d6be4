import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type Harness, harness, stores } from '../helpers/api.js';
import { waitFor } from '../helpers/temp.js';

/**
 * The hints of the admin API's errors name its own routes and body fields, not the library's calls
 * and options: an API or dashboard user is told which request to send. Through a real server on
 * loopback (SQLite: the wording is the core's and the server's, not the store's).
 */
describe("the admin API's hints name its routes", () => {
  let h: Harness;
  before(async () => (h = await harness(stores[0]![1])));
  after(async () => h.close());

  const runOf = async (id: string) => (await call(h, 'GET', `/api/v1/runs/${id}`, { token: h.tokens.read })).json.run as { state: string };

  it('a start of a backfill that already succeeded is told to send `"new": true` with POST /api/v1/runs', async () => {
    const created = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'quick', params: { tenant: 'h1' } } });
    assert.equal(created.status, 201, created.text);
    const id = (created.json.run as { id: string }).id;
    await waitFor(async () => (await runOf(id)).state === 'succeeded', 'the run to succeed');
    const again = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'quick', params: { tenant: 'h1' } } });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error, 'run_already_succeeded');
    const hint = again.json.hint as string;
    assert.match(hint, /send `"new": true` with `POST \/api\/v1\/runs`/);
    assert.match(hint, /`"mode": "reprocess-all"`/);
    assert.doesNotMatch(hint, /newRun|`reprocess`/, 'not the library option');
  });

  it('a retry of a paused run is told to POST its resume route; a resume of a running one to GET the run', async () => {
    const created = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'slow', params: { tenant: 'h2' } } });
    const id = (created.json.run as { id: string }).id;
    await waitFor(async () => (await runOf(id)).state === 'running', 'the run to start');
    const running = await call(h, 'POST', `/api/v1/runs/${id}/resume`, { token: h.tokens.write });
    assert.equal(running.status, 409, running.text);
    assert.equal(running.json.hint, `it is executing already; \`GET /api/v1/runs/${id}\` shows who holds its partitions`);

    assert.equal((await call(h, 'POST', `/api/v1/runs/${id}/pause`, { token: h.tokens.write })).status, 200);
    await waitFor(async () => (await runOf(id)).state === 'paused', 'the run to pause');
    const retried = await call(h, 'POST', `/api/v1/runs/${id}/retry`, { token: h.tokens.write });
    assert.equal(retried.status, 409, retried.text);
    assert.match(retried.json.message as string, /only failed runs can be retried/);
    assert.equal(retried.json.hint, `use \`POST /api/v1/runs/${id}/resume\``);
    assert.doesNotMatch(retried.text, /resume\('/, 'not the library call');
    await call(h, 'POST', `/api/v1/runs/${id}/cancel`, { token: h.tokens.write });
  });

  it('a start without the concurrency key the backfill limits runs by is told which `params` to send', async () => {
    for (const [path, body] of [
      ['/api/v1/runs', { backfill: 'quick' }],
      ['/api/v1/plan', { backfill: 'quick' }],
    ] as const) {
      const answer = await call(h, 'POST', path, { token: h.tokens.write, body });
      assert.equal(answer.status, 400, `${path}: ${answer.text}`);
      assert.equal(answer.json.error, 'concurrency_key_missing', path);
      assert.match(answer.json.message as string, /limits concurrency per tenant, so every run needs one/, path);
      assert.equal(answer.json.hint, 'pass `params`: { tenant: <value> }', path);
    }
  });

  it('a reprocess mode for a run still open is a 409 that says to finish, cancel or start beside it', async () => {
    const created = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'slow', params: { tenant: 'h4' } } });
    assert.equal(created.status, 201, created.text);
    const id = (created.json.run as { id: string }).id;
    const again = await call(h, 'POST', '/api/v1/runs', {
      token: h.tokens.write,
      body: { backfill: 'slow', params: { tenant: 'h4' }, mode: 'reprocess-all' },
    });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error, 'run_open');
    assert.match(again.json.message as string, new RegExp(`run ${id} is still open`));
    assert.equal(again.json.hint, 'finish or cancel it first, or start a new run beside it');
    await call(h, 'POST', `/api/v1/runs/${id}/cancel`, { token: h.tokens.write });
  });

  it('an unknown run is answered 404 with the route that lists runs', async () => {
    const missing = await call(h, 'POST', '/api/v1/runs/r_nosuchrun/retry', { token: h.tokens.write });
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.json.hint, 'list runs with `GET /api/v1/runs`');
  });
});
