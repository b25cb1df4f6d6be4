import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { runWorker } from '../../src/core/worker-loop.js';
import { createSluice, defineBackfill, iterable, PermanentError } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { RunMetrics } from '../../src/observe.js';
import type { Sluice, Store } from '../../src/index.js';
import type { AuthFailureLimit } from '../../src/server/auth-failures.js';
import { openApiDocument } from '../../src/server/api/openapi.js';
import { apiRoutes } from '../../src/server/api/routes.js';
import { buildServer } from '../../src/server/server.js';
import { createToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { TEST_PG, testSchema } from './postgres.js';
import { ContractRecorder } from './openapi-contract.js';
import { tempDir } from './temp.js';

export interface Harness {
  url: string;
  sluice: Sluice;
  tokens: { read: string; write: string; admin: string };
  /** Every answer of the API so far, checked against the OpenAPI document (close() fails on a violation too). */
  contractViolations(): string[];
  close(): Promise<void>;
}

/** Items 1..n; every item whose id is a multiple of 97 fails for good; `delayMs` per batch keeps a run alive long enough to steer. */
export function numbered(name: string, n: number, delayMs: number) {
  return defineBackfill({
    name,
    source: iterable({
      from: (c: unknown) => Array.from({ length: Math.max(0, n - Number(c ?? 0)) }, (_, i) => ({ id: Number(c ?? 0) + i + 1 })),
      cursorOf: (i: { id: number }) => i.id,
      count: () => n,
    }),
    key: (i: { id: number }) => i.id,
    batchSize: 20,
    maxFailureRatio: 1,
    retry: { attempts: 1 },
    concurrencyKeys: { tenant: { runs: 1 } },
    async process(batch) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const bad = batch.find((i) => i.id % 97 === 0);
      if (bad) throw new PermanentError(`item ${bad.id} is broken`);
    },
  });
}

/** A real server on loopback over a real store, with the server's own worker executing runs. */
export async function harness(
  open: () => Promise<{ store: Store; cleanup(): Promise<void> }>,
  options: {
    bodyLimit?: number;
    authFailureLimit?: AuthFailureLimit;
    extraBackfills?: Parameters<typeof createSluice>[0]['backfills'];
  } = {},
): Promise<Harness> {
  const { store, cleanup } = await open();
  const sluice = createSluice({
    store,
    backfills: [numbered('quick', 200, 0), numbered('slow', 100_000, 25), ...(options.extraBackfills ?? [])],
    logger: silentLogger,
  });
  const { app } = buildServer({
    sluice,
    metrics: new RunMetrics({ defaultMetrics: false }),
    eventsIntervalMs: 100,
    bodyLimit: options.bodyLimit ?? 16 * 1024,
    // Security tests try hundreds of bad tokens on purpose; the throttle of failed authentication has its own tests.
    authFailureLimit: options.authFailureLimit ?? { max: 100_000, windowMs: 60_000 },
  });
  const contract = new ContractRecorder();
  contract.install(app);
  const document = openApiDocument(apiRoutes(sluice), '0.0.0') as Parameters<ContractRecorder['violations']>[0];
  await app.listen({ port: 0, host: '127.0.0.1' });
  const abort = new AbortController();
  const worker = runWorker({ sluice, clock: systemClock, logger: silentLogger, signal: abort.signal, pollIntervalMs: 50 });
  const tokens = {
    read: (await createToken(store, { name: 'reader', scope: 'read', createdBy: 'test' })).token,
    write: (await createToken(store, { name: 'writer', scope: 'write', createdBy: 'test' })).token,
    admin: (await createToken(store, { name: 'root', scope: 'admin', createdBy: 'test' })).token,
  };
  const address = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    sluice,
    tokens,
    contractViolations: () => contract.violations(document),
    async close() {
      abort.abort();
      await worker;
      await app.close();
      await sluice.close();
      await store.close();
      await cleanup();
      // Every API test checks the contract: each answer it received is one the document describes.
      const violations = contract.violations(document);
      if (violations.length > 0)
        throw new Error(
          `${violations.length} answer(s) of ${contract.count} break the OpenAPI document:\n${violations.slice(0, 20).join('\n')}`,
        );
    },
  };
}

export async function call(
  h: Harness,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${h.url}${path}`, { method, headers, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (the dashboard, metrics)
  }
  return { status: response.status, json, text };
}

export const stores: Array<[string, () => Promise<{ store: Store; cleanup(): Promise<void> }>]> = [
  [
    'SQLite',
    async () => {
      const { dir, cleanup } = await tempDir();
      return { store: await openSqliteStore(join(dir, 'api.db')), cleanup };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const { schema, cleanup } = await testSchema('api');
      return { store: await openPostgresStore({ connectionString: TEST_PG, schema }), cleanup };
    },
  ],
];
