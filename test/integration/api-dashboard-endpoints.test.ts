import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type Harness, harness, stores } from '../helpers/api.js';

/** The endpoints the dashboard needs beyond runs and control: who am I, paging, report, Grafana, API wording. */
for (const [name, open] of stores) {
  describe(`API endpoints of the dashboard (${name})`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(open);
    });
    after(async () => {
      await h?.close();
    });

    it('whoami names the token and its scope, never its secret', async () => {
      const read = await call(h, 'GET', '/api/v1/whoami', { token: h.tokens.read });
      assert.equal(read.status, 200, read.text);
      assert.deepEqual([read.json.name, read.json.scope], ['reader', 'read']);
      // The secret is everything after `slc_<id>_`: base64url, so it may hold `_` itself.
      const secret = h.tokens.read.replace(/^slc_[a-z0-9]+_/, '');
      assert.ok(secret.length >= 40, h.tokens.read);
      assert.ok(!('hash' in read.json), read.text);
      assert.ok(!read.text.includes(secret), read.text);
      assert.equal((await call(h, 'GET', '/api/v1/whoami', { token: h.tokens.admin })).json.scope, 'admin');
      assert.equal((await call(h, 'GET', '/api/v1/whoami')).status, 401);
    });

    it('pages the runs list with offset and nextOffset, filters applied', async () => {
      const ids: string[] = [];
      for (const tenant of ['a', 'b', 'c']) {
        const created = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'quick', params: { tenant } } });
        assert.equal(created.status, 201, created.text);
        ids.push((created.json.run as { id: string }).id);
      }
      const first = await call(h, 'GET', '/api/v1/runs?backfill=quick&limit=2', { token: h.tokens.read });
      assert.equal((first.json.runs as unknown[]).length, 2);
      assert.equal(first.json.nextOffset, 2);
      const second = await call(h, 'GET', '/api/v1/runs?backfill=quick&limit=2&offset=2', { token: h.tokens.read });
      assert.equal(second.json.nextOffset, null, 'the last page says so');
      const seen = [...(first.json.runs as Array<{ id: string }>), ...(second.json.runs as Array<{ id: string }>)].map((r) => r.id);
      assert.deepEqual([...seen].sort(), [...ids].sort(), 'the pages together hold every run once');
      assert.equal(((await call(h, 'GET', '/api/v1/runs?backfill=slow', { token: h.tokens.read })).json.runs as unknown[]).length, 0);
      assert.equal((await call(h, 'GET', '/api/v1/runs?offset=-1', { token: h.tokens.read })).status, 400);
    });

    it("answers a run's report, 404 for an unknown run, and the Grafana dashboard", async () => {
      const runId = ((await call(h, 'GET', '/api/v1/runs?limit=1', { token: h.tokens.read })).json.runs as Array<{ id: string }>)[0]!.id;
      const report = await call(h, 'GET', `/api/v1/runs/${runId}/report`, { token: h.tokens.read });
      assert.equal(report.status, 200, report.text);
      assert.equal((report.json.run as { id: string }).id, runId);
      assert.equal((await call(h, 'GET', '/api/v1/runs/nope/report', { token: h.tokens.read })).status, 404);
      const grafana = await call(h, 'GET', '/api/v1/grafana-dashboard', { token: h.tokens.read });
      assert.equal(grafana.status, 200);
      assert.equal(grafana.json.uid, 'sluice-backfills');
      assert.ok((grafana.json.panels as unknown[]).length > 0);
    });

    it('words a bad option as the API names it, not as a command-line flag', async () => {
      const bad = await call(h, 'POST', '/api/v1/plan', {
        token: h.tokens.read,
        body: { backfill: 'quick', since: 'yesterday-ish', params: { tenant: 'x' } },
      });
      assert.equal(bad.status, 400, bad.text);
      assert.match(String(bad.json.message), /since/);
      assert.doesNotMatch(String(bad.json.message), /--[a-z]/, String(bad.json.message));
    });

    it('serves a favicon', async () => {
      const icon = await call(h, 'GET', '/favicon.svg');
      assert.equal(icon.status, 200);
      assert.match(icon.text, /^<svg/);
      assert.equal((await call(h, 'GET', '/favicon.ico')).status, 200);
    });
  });
}
