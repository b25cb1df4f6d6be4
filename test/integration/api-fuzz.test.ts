import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Harness, harness, stores } from '../helpers/api.js';

/**
 * A bounded, deterministic fuzz of the admin API: for every documented operation, hostile bodies,
 * headers, paths and methods from a seeded generator. The server must never answer 5xx, and every
 * error must be a JSON `{ error, message }`. (The harness also checks each answer against the
 * OpenAPI document.) SLUICE_FUZZ_SEED replays another seed; the default keeps CI deterministic.
 */
const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 16);
const PER_OPERATION = 24;

/** mulberry32: small, seedable, good enough to pick cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  '',
  ' ',
  'quick',
  'slow',
  "x'; DROP TABLE sluice_runs; --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00',
  'a\u0000b',
  '\u202Eevil',
  '\uD800',
  '\uFFFF',
  '𝕊luice',
  'é'.repeat(600),
  'x'.repeat(5000),
  '${process.exit()}',
  '__proto__',
  'constructor',
  '1e309',
  '-1',
  '0',
  'NaN',
  'null',
  'true',
  '2026-02-30T25:61:00Z',
  '7d',
  '-7d',
  '9999999999d',
];
const NUMBERS = [0, -1, 1, 1.5, -0, 1e308, -1e308, 2 ** 53 + 1, 100_000, 100_001, 256, 257, 10_000_000];

function pick<T>(random: () => number, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)]!;
}

function hostileValue(random: () => number, depth = 0): unknown {
  const kind = Math.floor(random() * (depth > 3 ? 5 : 8));
  switch (kind) {
    case 0:
      return pick(random, STRINGS);
    case 1:
      return pick(random, NUMBERS);
    case 2:
      return pick(random, [true, false, null]);
    case 3:
      return pick(random, STRINGS).slice(0, 40);
    case 4:
      return pick(random, NUMBERS);
    case 5:
      return Array.from({ length: Math.floor(random() * 4) }, () => hostileValue(random, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 4) }, () => [
          pick(random, [...FIELDS, ...STRINGS.slice(0, 12)]),
          hostileValue(random, depth + 1),
        ]),
      );
  }
}

const FIELDS = [
  'backfill',
  'since',
  'from',
  'to',
  'batchSize',
  'concurrency',
  'maxBatches',
  'profile',
  'owner',
  'mode',
  'dryRun',
  'new',
  'params',
  'reason',
  'errorClass',
  'ids',
  'name',
  'value',
  'scope',
  'batchDelayMs',
  'maxMemoryMb',
  '__proto__',
  'constructor',
  'prototype',
];

/** A raw body: valid JSON of hostile values, or bytes that are not JSON at all. */
function hostileBody(random: () => number): string | undefined {
  switch (Math.floor(random() * 10)) {
    case 0:
      return undefined;
    case 1:
      return '';
    case 2:
      return '{"backfill":"quick",';
    case 3:
      return `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    case 4:
      return `{"params":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`; // 60 KB, under the 64 KiB limit
    case 5:
      return '{"__proto__":{"admin":true},"backfill":"quick","constructor":{"prototype":{"x":1}}}';
    case 6:
      return JSON.stringify({
        backfill: pick(random, ['quick', 'slow', 'nope']),
        maxBatches: 1,
        dryRun: random() < 0.5,
        params: { tenant: `f${Math.floor(random() * 1000)}` },
      });
    case 7:
      return '\u0000\u0001\uFFFE garbage';
    default:
      return JSON.stringify(hostileValue(random));
  }
}

function hostilePathId(random: () => number): string {
  return pick(random, [
    'r_x',
    'r_nothere',
    '%00',
    '..%2F..%2Fetc',
    '%E2%80%AE',
    'x'.repeat(300),
    '%ff',
    'a%20b',
    '%252e',
    "'or'1'='1",
    'qhmt54dtavuk',
    '123456789012',
    '__proto__',
  ]);
}

function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const sqlite = stores.find(([name]) => name === 'SQLite')![1];

describe(`the admin API under a fuzz (seed ${SEED})`, () => {
  let h: Harness;
  before(async () => {
    h = await harness(sqlite, { bodyLimit: 64 * 1024 });
  });
  after(async () => h.close());

  it('never answers 5xx, and answers every error with a JSON { error, message }', async () => {
    const random = rng(SEED);
    const document = (await (
      await fetch(`${h.url}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${h.tokens.read}` } })
    ).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    );
    assert.ok(operations.length >= 18);
    const tokens = [h.tokens.read, h.tokens.write, h.tokens.admin];
    let sent = 0;
    for (const operation of operations) {
      if (operation.path.endsWith('/events')) continue; // a stream: its own tests
      for (let i = 0; i < PER_OPERATION; i++) {
        const path =
          operation.path.replace(/\{[a-zA-Z]+\}/g, () => hostilePathId(random)) +
          (random() < 0.3
            ? `?${pick(random, ['limit=-1', 'limit=1e9', 'limit=abc', 'afterId=%00', 'state=%E2%80%AE', 'key==', 'x=1&x=2', 'limit[]=1', 'status=open&status=replayed', `backfill=${'a'.repeat(400)}`])}`
            : '');
        const method = random() < 0.8 ? operation.method : pick(random, ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS']);
        const headers: Record<string, string> = {};
        const auth = random();
        if (auth < 0.75) headers.authorization = `Bearer ${pick(random, tokens)}`;
        else if (auth < 0.85) headers['x-api-key'] = pick(random, [...tokens, 'slc_', 'slc_aaaaaaaaaaaa_' + 'A'.repeat(43)]);
        else if (auth < 0.95)
          headers.authorization = pick(random, [
            'Bearer',
            'Bearer  ',
            'Basic Zm9vOmJhcg==',
            `Bearer ${'x'.repeat(8000)}`,
            'Bearer slc_\u00e9',
          ]);
        const body = method === 'GET' && random() < 0.8 ? undefined : hostileBody(random);
        if (body !== undefined)
          headers['content-type'] = pick(random, [
            'application/json',
            'application/json',
            'application/json; charset=utf-16',
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/json; boundary=x',
            '',
          ]);
        if (headers['content-type'] === '') delete headers['content-type'];
        if (random() < 0.05) headers['accept-encoding'] = 'gzip, deflate, br';
        const answer = await send(h.url, method, path, headers, body);
        sent++;
        const what = `${method} ${path.slice(0, 120)} [${JSON.stringify(headers).slice(0, 80)}] ${String(body).slice(0, 120)} → ${answer.status} ${answer.text.slice(0, 200)}`;
        assert.ok(answer.status < 500, `a 5xx: ${what}`);
        if (answer.status >= 400) {
          assert.match(answer.type, /^application\/json/, what);
          const error = JSON.parse(answer.text) as { error?: unknown; message?: unknown };
          assert.equal(typeof error.error, 'string', what);
          assert.equal(typeof error.message, 'string', what);
        }
      }
    }
    assert.ok(sent >= 300, `${sent} requests`);
  });
});
