import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpRateLimit } from '../../src/index.js';

const response = (status: number, headers: Record<string, string> = {}) => ({ status, headers: new Headers(headers) });

describe('httpRateLimit', () => {
  it('a 429 with Retry-After stops until then; a 503 without one waits a minute', async () => {
    let now = Date.parse('2026-11-22T12:00:00Z');
    const limit = httpRateLimit({ name: 'github', now: () => now });
    assert.equal((await limit.read()).level, 'ok');
    assert.deepEqual(
      limit.observe(response(429, { 'retry-after': '30' })),
      { retryAfterMs: 30_000 },
      'the item answered waits as the provider said',
    );
    assert.deepEqual(await limit.read(), {
      level: 'stop',
      reason: 'HTTP 429, Retry-After 30: waiting until 2026-11-22T12:00:30.000Z (30 s)',
    });
    assert.equal(limit.blockedUntil(), Date.parse('2026-11-22T12:00:30Z'));
    now += 30_000;
    assert.equal((await limit.read()).level, 'ok');
    assert.deepEqual(limit.observe(response(503)), { retryAfterMs: 60_000 });
    assert.deepEqual(limit.observe(response(200)), { retryAfterMs: undefined });
    assert.match((await limit.read()).reason, /^HTTP 503: waiting until 2026-11-22T12:01:30\.000Z \(60 s\)$/);
  });

  it('X-RateLimit-Remaining at the floor waits for X-RateLimit-Reset (epoch seconds)', async () => {
    let now = Date.parse('2026-11-22T12:00:00Z');
    const limit = httpRateLimit({ minRemaining: 5, now: () => now });
    limit.observe({ status: 200, headers: { 'x-ratelimit-remaining': '6', 'x-ratelimit-reset': String(now / 1000 + 600) } });
    assert.equal((await limit.read()).level, 'ok', 'above the floor');
    limit.observe({ status: 200, headers: { 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': String(now / 1000 + 600) } });
    assert.match((await limit.read()).reason, /^X-RateLimit-Remaining 5: waiting until 2026-11-22T12:10:00\.000Z/);
    now += 600_000;
    assert.equal((await limit.read()).level, 'ok');
  });

  it('the hourly budget stops at its count and frees as requests age out of the hour', async () => {
    let now = Date.parse('2026-11-22T12:00:00Z');
    const limit = httpRateLimit({ budgetPerHour: 3, now: () => now });
    for (let i = 0; i < 3; i++) {
      limit.observe(response(200));
      now += 60_000;
    }
    assert.match(
      (await limit.read()).reason,
      /^request budget spent: 3 of 3 in the last hour; the next frees at 2026-11-22T13:00:00\.000Z$/,
    );
    now = Date.parse('2026-11-22T13:00:01Z');
    assert.deepEqual(await limit.read(), { level: 'ok', reason: '2 of 3 requests in the last hour' });
  });

  it('wait() resolves when the provider lets requests go again', async () => {
    const limit = httpRateLimit();
    limit.observe(response(429, { 'retry-after': '0.2' }));
    const started = Date.now();
    await limit.wait();
    assert.ok(Date.now() - started >= 150, 'waited for Retry-After');
  });
});
