import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { call, type Harness, harness, stores } from '../helpers/api.js';

/** A GET with a Host header of our choosing (fetch sets its own). */
function getWithHost(url: string, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sqlite = stores.find(([name]) => name === 'SQLite')![1];

describe('admin API against hostile input', () => {
  let h: Harness;
  before(async () => {
    h = await harness(sqlite, { bodyLimit: 64 * 1024 }); // the server's default
  });
  after(async () => h.close());

  it('answers deeply nested JSON with a 400 that says so, on every route with a body (a read token reaches /plan)', async () => {
    const depth = 10_000; // 60 KB: under the body limit, far over any stack a recursive walk survives
    const nested = `{"backfill":"quick","params":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    for (const [path, token] of [
      ['/api/v1/plan', h.tokens.read],
      ['/api/v1/runs', h.tokens.write],
    ] as const) {
      const answer = await call(h, 'POST', path, { token, raw: nested });
      assert.equal(answer.status, 400, `${path}: ${answer.text.slice(0, 200)}`);
      assert.equal(answer.json.error, 'bad_request');
      assert.match(answer.json.message as string, /body: nested deeper than 32 levels/);
    }
    const arrays = await call(h, 'POST', '/api/v1/plan', {
      token: h.tokens.read,
      raw: `{"backfill":"quick","x":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    });
    assert.equal(arrays.status, 400, arrays.text.slice(0, 200));
    // Nesting a body needs is still accepted, and a NUL is still named by its path.
    const nul = await call(h, 'POST', '/api/v1/plan', {
      token: h.tokens.read,
      body: { backfill: 'quick', params: { tenant: 'a\u0000b' } },
    });
    assert.equal(nul.status, 400);
    assert.equal(nul.json.message, 'body.params.tenant: must not contain NUL characters');
  });

  it('answers a dry run with 200, since nothing is created', async () => {
    const answer = await call(h, 'POST', '/api/v1/runs', {
      token: h.tokens.write,
      body: { backfill: 'quick', dryRun: true, maxBatches: 2, params: { tenant: 'dry' } },
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.dryRun, true);
    const created = await call(h, 'POST', '/api/v1/runs', {
      token: h.tokens.write,
      body: { backfill: 'quick', params: { tenant: 'real' } },
    });
    assert.equal(created.status, 201, created.text);
  });

  it('tells browsers and proxies to keep no copy of an answer, and the dashboard page to send no form or base elsewhere', async () => {
    for (const [path, token] of [
      ['/api/v1/runs', h.tokens.read],
      ['/api/v1/runs/r_nothere', h.tokens.read],
      ['/api/v1/runs', undefined],
      ['/readyz', undefined],
      ['/metrics', undefined],
      ['/api/v1/openapi.json', h.tokens.read],
    ] as const) {
      const response = await fetch(`${h.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal(response.headers.get('cache-control'), 'no-store', `${path} (${response.status})`);
    }
    const page = await fetch(`${h.url}/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /base-uri 'none'/);
    assert.match(csp, /form-action 'self'/);
  });

  it('shows bidi controls in error messages instead of letting them reverse the text', async () => {
    const answer = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'quick', since: 'x\u202Eyad7' } });
    assert.equal(answer.status, 400, answer.text);
    assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(answer.text), answer.text);
    assert.match(answer.json.message as string, /x<U\+202E>yad7/);
  });

  it('answers 421 to a Host that is not its own (a DNS-rebinding page), on every path, and serves its loopback names', async () => {
    const port = new URL(h.url).port;
    for (const path of ['/metrics', '/readyz', '/healthz', '/api/v1/runs', '/']) {
      const rebound = await getWithHost(h.url, path, `attacker.example:${port}`);
      assert.equal(rebound.status, 421, `${path}: ${rebound.body}`);
      const body = JSON.parse(rebound.body) as { error: string; message: string };
      assert.equal(body.error, 'misdirected_request');
      assert.match(body.message, /does not answer to host "attacker\.example:\d+".*allowedHosts/);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      assert.equal((await getWithHost(h.url, '/healthz', host)).status, 200, host);
    }
  });

  it('documents every success body with its schema, and a retune body with a reason alone as refused', async () => {
    const document = (await call(h, 'GET', '/api/v1/openapi.json', { token: h.tokens.read })).json as {
      paths: Record<
        string,
        Record<
          string,
          {
            responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
            requestBody?: { content: { 'application/json': { schema: Record<string, unknown> } } };
          }
        >
      >;
    };
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const successes = Object.entries(operation.responses).filter(([status]) => status.startsWith('2'));
        assert.ok(successes.length > 0, `${method} ${path} documents a success`);
        for (const [status, response] of successes) {
          const schema = Object.values(response.content ?? {})[0]?.schema ?? {};
          assert.ok(Object.keys(schema).length > 0, `${method} ${path} ${status} has a schema, not {}`);
        }
        assert.ok(
          ['400', '401', '421', '429', '500', '503'].every((s) => s in operation.responses),
          `${method} ${path} documents the errors of every route`,
        );
        if (method !== 'get')
          assert.ok('413' in operation.responses && '415' in operation.responses, `${method} ${path} documents 413 and 415`);
      }
    }
    assert.ok('409' in document.paths['/api/v1/runs/{id}/pause']!.post!.responses);
    // The server refuses a reason alone: the document says at least one knob is required.
    const retune = document.paths['/api/v1/runs/{id}/retune']!.post!.requestBody!.content['application/json'].schema as {
      anyOf?: Array<{ required: string[] }>;
    };
    assert.deepEqual(
      retune.anyOf?.map((a) => a.required),
      [['batchSize'], ['concurrency'], ['batchDelayMs'], ['maxMemoryMb'], ['profile']],
    );
    assert.equal((await call(h, 'POST', '/api/v1/runs/r_any/retune', { token: h.tokens.write, body: { reason: 'why' } })).status, 400);
    assert.deepEqual(h.contractViolations(), []);
  });
});
