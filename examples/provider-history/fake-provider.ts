// A local HTTP server that behaves like a GitHub-style provider API, for the provider-history
// example and its test: cursor pagination through `Link` headers, `X-RateLimit-*` headers,
// installation tokens that expire (401) and are refreshed, and an occasional 500.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const ENTITY_TYPES = ['pull_request', 'issue', 'release'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export interface ProviderItem {
  id: number;
  installationId: string;
  entityType: EntityType;
  title: string;
  updated_at: string;
}

const DAY = 86_400_000;
const PER_PAGE = 25;

export interface FakeProvider {
  url: string;
  /** The provider's clock (the test moves it days ahead). */
  now(): number;
  shift(ms: number): void;
  stats: { requests: number; unauthorized: number; errors: number; tokens: number };
  close(): Promise<void>;
}

/**
 * Items of one installation and entity type: `perDay` a day over the last 120 days of `now`, ids
 * ascending with age descending. The timestamps are measured from `now` itself, half a step off
 * the whole steps, so that any window of whole days back from `now` holds exactly `perDay` items a
 * day, whatever the hour of `now` (a window aligned to the calendar day would hold more in the
 * morning than in the afternoon).
 */
function itemsOf(installationId: string, entityType: EntityType, now: number, perDay: number): ProviderItem[] {
  const count = 120 * perDay;
  const step = DAY / perDay;
  const base = ENTITY_TYPES.indexOf(entityType) * 1_000_000;
  return Array.from({ length: count }, (_, i) => ({
    id: base + i + 1,
    installationId,
    entityType,
    title: `${entityType} #${i + 1}`,
    updated_at: new Date(now - (count - i - 0.5) * step).toISOString(),
  }));
}

export async function startFakeProvider(
  options: { perDay?: number; tokenUses?: number; failEvery?: number; start?: number } = {},
): Promise<FakeProvider> {
  let offset = 0;
  const start = options.start ?? Date.now();
  const now = () => start + offset;
  const perDay = options.perDay ?? 2;
  const tokenUses = options.tokenUses ?? 20;
  const failEvery = options.failEvery ?? 13;
  const tokens = new Map<string, number>();
  const stats = { requests: 0, unauthorized: 0, errors: 0, tokens: 0 };
  let remaining = 5000;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://provider');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const token = url.pathname.match(/^\/app\/installations\/([^/]+)\/access_tokens$/);
    if (req.method === 'POST' && token) {
      stats.tokens += 1;
      const value = `ghs_${token[1]}_${stats.tokens}`;
      tokens.set(value, tokenUses);
      return send(201, { token: value, expires_at: new Date(now() + 3_600_000).toISOString() });
    }
    const list = url.pathname.match(/^\/installations\/([^/]+)\/(pull_request|issue|release)s$/);
    if (req.method !== 'GET' || !list) return send(404, { message: 'Not Found' });
    stats.requests += 1;
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const uses = auth === undefined ? undefined : tokens.get(auth);
    if (uses === undefined || uses <= 0) {
      stats.unauthorized += 1;
      return send(401, { message: 'Bad credentials' });
    }
    tokens.set(auth!, uses - 1);
    remaining = Math.max(0, remaining - 1);
    const rate = {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': String(Math.floor(now() / 1000) + 3600),
    };
    if (stats.requests % failEvery === 0) {
      stats.errors += 1;
      return send(500, { message: 'Server Error' }, rate);
    }
    const since = Date.parse(url.searchParams.get('since') ?? '1970-01-01T00:00:00Z');
    const after = Number(url.searchParams.get('after') ?? 0);
    const matching = itemsOf(list[1]!, list[2] as EntityType, now(), perDay).filter(
      (item) => Date.parse(item.updated_at) >= since && item.id > after,
    );
    const page = matching.slice(0, PER_PAGE);
    const headers: Record<string, string> = { ...rate };
    if (matching.length > PER_PAGE) {
      const next = new URL(url);
      next.searchParams.set('after', String(page[page.length - 1]!.id));
      headers.link = `<${next.pathname}${next.search}>; rel="next"`;
    }
    send(200, page, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    now,
    shift: (ms) => (offset += ms),
    stats,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The local event gateway: counts deliveries by delivery id; can be told to fail some (a partial outage). */
export interface Gateway {
  url: string;
  deliveries: Map<string, number>;
  failing: Set<string>;
  /** Answers this much later (a slow gateway). */
  delayMs: number;
  duplicates(): number;
  close(): Promise<void>;
}

export async function startGateway(): Promise<Gateway> {
  const deliveries = new Map<string, number>();
  const failing = new Set<string>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () =>
      setTimeout(() => {
        const event = JSON.parse(body) as { deliveryId: string; entityType: string };
        if (failing.has(event.entityType)) return res.writeHead(503).end();
        deliveries.set(event.deliveryId, (deliveries.get(event.deliveryId) ?? 0) + 1);
        res.writeHead(202).end();
      }, gateway.delayMs),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const gateway: Gateway = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/deliveries`,
    deliveries,
    failing,
    delayMs: 0,
    duplicates: () => [...deliveries.values()].filter((n) => n > 1).length,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return gateway;
}
