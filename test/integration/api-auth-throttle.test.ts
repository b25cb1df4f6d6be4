import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { AuthFailures, DEFAULT_AUTH_FAILURE_LIMIT, parseAuthFailureLimit } from '../../src/server/auth-failures.js';
import { type Harness, harness, stores } from '../helpers/api.js';

const sqlite = stores.find(([name]) => name === 'SQLite')![1];

/** A GET from a chosen loopback address, so that one test plays several clients. */
function getFrom(
  localAddress: string,
  url: string,
  token: string,
): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('failed authentication is limited per client', () => {
  let h: Harness;
  before(async () => {
    h = await harness(sqlite, { authFailureLimit: { max: 5, windowMs: 60_000 } });
  });
  after(async () => h.close());

  it('answers 429 with Retry-After after the limit of invalid tokens, to that client only, whatever it presents then', async () => {
    const runs = `${h.url}/api/v1/runs`;
    const wrong = h.tokens.read.slice(0, -2) + (h.tokens.read.endsWith('AA') ? 'BB' : 'AA');
    // A client that authenticates is never limited.
    for (let i = 0; i < 20; i++) assert.equal((await getFrom('127.0.0.3', runs, h.tokens.read)).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await getFrom('127.0.0.2', runs, wrong)).status, 401, `failure ${i + 1}`);
    const limited = await getFrom('127.0.0.2', runs, wrong);
    assert.equal(limited.status, 429, limited.body);
    assert.match(limited.body, /too many invalid API tokens from this address; try again in \d+ s/);
    const seconds = Number(limited.retryAfter);
    assert.ok(seconds >= 1 && seconds <= 60, `Retry-After: ${limited.retryAfter}`);
    // The right secret does not get through while limited (else the limit would be an oracle)…
    assert.equal((await getFrom('127.0.0.2', runs, h.tokens.read)).status, 429);
    // …and another client is not affected.
    assert.equal((await getFrom('127.0.0.3', runs, h.tokens.read)).status, 200);
    assert.equal((await getFrom('127.0.0.3', runs, wrong)).status, 401);
  });
});

describe('the failed-authentication window', () => {
  it('lets a client try again when its oldest failure leaves the window', () => {
    let now = 1_000_000;
    const failures = new AuthFailures({ max: 3, windowMs: 10_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      assert.equal(failures.retryAfterSeconds('a'), 0);
      failures.recordFailure('a');
      now += 1000;
    }
    assert.equal(failures.retryAfterSeconds('a'), 7); // now 1 003 000; the first failure, at 1 000 000, leaves at 1 010 000
    assert.equal(failures.retryAfterSeconds('b'), 0);
    now += 6999;
    assert.equal(failures.retryAfterSeconds('a'), 1);
    now += 1;
    assert.equal(failures.retryAfterSeconds('a'), 0);
  });

  it('defaults to 20 failures a minute and reads SLUICE_AUTH_FAILURE_LIMIT', () => {
    assert.deepEqual(DEFAULT_AUTH_FAILURE_LIMIT, { max: 20, windowMs: 60_000 });
    assert.deepEqual(parseAuthFailureLimit('10/30'), { max: 10, windowMs: 30_000 });
    for (const bad of ['', '10', '0/60', '10/0', 'ten/60', '-1/60']) assert.equal(parseAuthFailureLimit(bad), undefined, bad);
  });
});
