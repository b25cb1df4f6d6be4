import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type Harness, harness, stores } from '../helpers/api.js';

/** Strings an attacker tries in every field: SQL, markup, path traversal, control characters, huge. */
const HOSTILE = [
  "x'; DROP TABLE sluice_runs; --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '{"$ne":null}',
  'a\u0000b',
  '%00%27',
  '${process.exit()}',
  'é'.repeat(300),
];

for (const [name, open] of stores) {
  describe(`admin API security on ${name}`, () => {
    let h: Harness;
    let runId: string;
    before(async () => {
      h = await harness(open);
      const created = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'quick', params: { tenant: 'sec' } },
      });
      runId = (created.json.run as { id: string }).id;
    });
    after(async () => h.close());

    it('answers 401 to every /api/v1 route without a token, a tampered one or a malformed header; health stays open', async () => {
      const document = await call(h, 'GET', '/api/v1/openapi.json', { token: h.tokens.read });
      const operations = Object.entries(document.json.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => [method.toUpperCase(), path.replace('{id}', runId)] as const),
      );
      assert.ok(operations.length >= 18, `all routes are documented (${operations.length})`);
      const tampered = h.tokens.admin.slice(0, -1) + (h.tokens.admin.endsWith('A') ? 'B' : 'A');
      for (const [method, path] of operations) {
        const attempts: Array<Record<string, string>> = [
          {},
          { authorization: `Bearer ${tampered}` },
          { authorization: 'Basic YWRtaW46YWRtaW4=' },
          { 'x-api-key': 'slc_' },
          { authorization: `Bearer ${'x'.repeat(5000)}` },
        ];
        for (const headers of attempts) {
          const answer = await call(h, method, path, { headers, ...(method === 'POST' ? { body: {} } : {}) });
          assert.equal(answer.status, 401, `${method} ${path} with ${JSON.stringify(headers).slice(0, 60)}: ${answer.text}`);
          assert.equal(answer.json.error, 'unauthorized');
          assert.ok((answer.json.message as string).length > 10);
        }
      }
      assert.equal((await call(h, 'GET', '/healthz')).status, 200);
      assert.equal((await call(h, 'GET', '/readyz')).status, 200);
    });

    it('enforces scopes: read cannot write, write cannot administer', async () => {
      const read = h.tokens.read;
      assert.equal((await call(h, 'GET', '/api/v1/runs', { token: read })).status, 200);
      for (const [method, path, body] of [
        ['POST', '/api/v1/runs', { backfill: 'quick', params: { tenant: 'x' } }],
        ['POST', `/api/v1/runs/${runId}/pause`, {}],
        ['POST', `/api/v1/runs/${runId}/cancel`, {}],
        ['POST', `/api/v1/runs/${runId}/retune`, { batchSize: 3 }],
        ['POST', `/api/v1/runs/${runId}/quarantine/replay`, {}],
        ['GET', '/api/v1/tokens', undefined],
      ] as const) {
        const answer = await call(h, method, path, { token: read, body });
        assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
        assert.match(answer.json.message as string, /needs a (write|admin) token; this one is read/);
      }
      assert.equal((await call(h, 'GET', '/api/v1/tokens', { token: h.tokens.write })).status, 403);
      assert.equal((await call(h, 'GET', '/api/v1/tokens', { token: h.tokens.admin })).status, 200);
    });

    it('refuses malformed JSON, oversized bodies, wrong types and unknown fields with a 4xx that names the problem', async () => {
      const token = h.tokens.write;
      const cases: Array<[string, { raw?: string; body?: unknown; headers?: Record<string, string> }, number, RegExp]> = [
        ['malformed JSON', { raw: '{"backfill": "quick",' }, 400, /not valid JSON/],
        ['a JSON array', { body: ['quick'] }, 400, /body/],
        ['a JSON string', { raw: '"quick"' }, 400, /body/],
        ['an empty body', { raw: '' }, 400, /empty|body/],
        ['an oversized body', { body: { backfill: 'quick', reason: 'x'.repeat(20_000) } }, 413, /larger than the server accepts/],
        ['text instead of JSON', { raw: 'backfill=quick', headers: { 'content-type': 'text/plain' } }, 415, /application\/json/],
        ['a string batch size', { body: { backfill: 'quick', batchSize: '100' } }, 400, /body\.batchSize: batchSize must be a number/],
        [
          'a fractional concurrency',
          { body: { backfill: 'quick', concurrency: 1.5 } },
          400,
          /body\.concurrency: concurrency must be an integer/,
        ],
        ['a negative batch size', { body: { backfill: 'quick', batchSize: -1 } }, 400, /batchSize must be at least 1/],
        ['a huge batch size', { body: { backfill: 'quick', batchSize: 1e12 } }, 400, /batchSize must be at most 100000/],
        ['a bad profile', { body: { backfill: 'quick', profile: 'turbo' } }, 400, /profile must be background, moderate or fast/],
        ['a bad from', { body: { backfill: 'quick', from: 'yesterday' } }, 400, /body\.from: from must be an ISO 8601 instant/],
        ['an unknown field', { body: { backfill: 'quick', batch_size: 10 } }, 400, /unknown field "batch_size"/],
        [
          'nested params',
          { body: { backfill: 'quick', params: { tenant: { $gt: '' } } } },
          400,
          /params values must be strings, numbers or booleans/,
        ],
        ['no backfill', { body: {} }, 400, /body\.backfill/],
        ['an unknown backfill', { body: { backfill: 'nope' } }, 404, /unknown backfill "nope"/],
        ['a missing concurrency key', { body: { backfill: 'quick' } }, 400, /tenant/],
        ['a bad since', { body: { backfill: 'quick', since: 'last tuesday', params: { tenant: 'q' } } }, 400, /since/],
      ];
      for (const [what, options, status, message] of cases) {
        const answer = await call(h, 'POST', '/api/v1/runs', { token, ...options });
        assert.equal(answer.status, status, `${what}: ${answer.text}`);
        assert.match(answer.json.message as string, message, `${what}: ${answer.text}`);
      }
      const field = await call(h, 'POST', '/api/v1/runs', { token, body: { backfill: 'quick', batchSize: 'x' } });
      assert.equal(field.json.field, 'batchSize');
      const query = await call(h, 'GET', '/api/v1/runs?limit=lots', { token });
      assert.equal(query.status, 400);
      assert.match(query.json.message as string, /query\.limit: limit must be a whole number/);
      const retune = await call(h, 'POST', `/api/v1/runs/${runId}/retune`, { token, body: { reason: 'nothing else' } });
      assert.equal(retune.status, 400);
      assert.match(retune.json.message as string, /give at least one of batchSize/);
    });

    it('takes hostile strings in every field without a 5xx, and stores free text verbatim', async () => {
      const token = h.tokens.admin;
      for (const hostile of HOSTILE) {
        const requests: Array<[string, string, unknown]> = [
          ['POST', '/api/v1/runs', { backfill: hostile }],
          ['POST', '/api/v1/runs', { backfill: 'quick', since: hostile, params: { tenant: 'h' } }],
          ['POST', '/api/v1/runs', { backfill: 'quick', owner: hostile, reason: hostile, params: { tenant: hostile } }],
          ['POST', '/api/v1/runs', { backfill: 'quick', params: { tenant: 'h', [hostile.slice(0, 10)]: hostile } }],
          ['GET', `/api/v1/runs/${encodeURIComponent(hostile)}`, undefined],
          ['GET', `/api/v1/runs?backfill=${encodeURIComponent(hostile)}&key=${encodeURIComponent(`tenant=${hostile}`)}`, undefined],
          ['GET', `/api/v1/runs/${runId}/quarantine?errorClass=${encodeURIComponent(hostile)}`, undefined],
          ['POST', `/api/v1/runs/${encodeURIComponent(hostile)}/pause`, { reason: hostile }],
          ['POST', `/api/v1/runs/${runId}/retune`, { profile: hostile }],
          ['POST', `/api/v1/runs/${runId}/quarantine/replay`, { errorClass: hostile }],
          ['POST', '/api/v1/cancel-by-key', { name: hostile, value: hostile }],
          ['POST', '/api/v1/cancel-by-key', { name: 'tenant', value: hostile }],
          ['POST', '/api/v1/tokens', { name: hostile, scope: hostile }],
          ['DELETE', `/api/v1/tokens/${encodeURIComponent(hostile)}`, undefined],
        ];
        for (const [method, path, body] of requests) {
          const answer = await call(h, method, path, { token, body });
          assert.ok(answer.status < 500, `${method} ${path} ${JSON.stringify(body)} → ${answer.status} ${answer.text}`);
          if (answer.status >= 400)
            assert.ok(typeof answer.json.message === 'string' && answer.json.message.length > 0, `a clear body: ${answer.text}`);
        }
      }
      // The store is intact and the free text came back as it went in.
      const list = await call(h, 'GET', '/api/v1/runs?limit=1000', { token });
      assert.equal(list.status, 200);
      const owners = (list.json.runs as Array<{ owner: string }>).map((r) => r.owner);
      assert.ok(owners.includes("x'; DROP TABLE sluice_runs; --"), 'SQL in an owner is data, stored verbatim');
      assert.ok(owners.includes('<script>alert(1)</script>'));
    });

    it('serves the dashboard with headers that forbid framing and sniffing', async () => {
      const page = await fetch(`${h.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
      assert.equal((await fetch(`${h.url}/assets/../../package.json`)).status, 404);
    });
  });
}
