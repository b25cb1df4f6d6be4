import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import { messageOf } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Sluice } from '../core/sluice.js';
import type { RunMetrics } from '../observe/run-metrics.js';
import { apiWording } from './api/api-wording.js';
import { openApiDocument } from './api/openapi.js';
import { registerRoute } from './api/route.js';
import { apiRoutes } from './api/routes.js';
import { requireScope } from './auth.js';
import { type AuthFailureLimit, AuthFailures } from './auth-failures.js';
import { RunEvents } from './events.js';
import { installHostCheck } from './host-check.js';
import { installErrorHandler } from './http-errors.js';
import { publicMessage } from './public-message.js';
import { ANSWER_DEADLINE_MS, installAnswerDeadline, withDeadline } from './store-unavailable.js';

export interface ServerOptions {
  sluice: Sluice;
  metrics: RunMetrics;
  logger?: Logger;
  /** Request body limit in bytes. Default 64 KiB. */
  bodyLimit?: number;
  /**
   * Longest wait for an answer (ms), also /readyz's look at the store: a request still unanswered
   * then (a store that hangs) is answered 503. Default 4000.
   */
  answerDeadlineMs?: number;
  /** How often the live stream reads the store (ms). Default 1000. */
  eventsIntervalMs?: number;
  version?: string;
  /**
   * Host names the server answers to besides its own addresses (a proxy's, a DNS name); `*`
   * turns the Host check off. See host-check.ts for the rule.
   */
  allowedHosts?: readonly string[];
  /** Failed authentications per client address before 429. Default 20 per 60 s. */
  authFailureLimit?: AuthFailureLimit;
}

const require = createRequire(import.meta.url);

/** The dashboard's files: a fixed list, so that no request path reaches the file system. */
const ASSETS: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => new URL('../../dashboard/index.html', import.meta.url).pathname, type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: () => new URL('../../dashboard/app.js', import.meta.url).pathname, type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: () => new URL('../../dashboard/app.css', import.meta.url).pathname, type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: () => new URL('../../dashboard/favicon.svg', import.meta.url).pathname, type: 'image/svg+xml' },
  // Browsers ask for /favicon.ico on their own when a page names none (the page names favicon.svg).
  '/favicon.ico': { file: () => new URL('../../dashboard/favicon.svg', import.meta.url).pathname, type: 'image/svg+xml' },
  '/assets/uplot.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/uplot.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/**
 * The HTTP server of `sluice serve`: health, readiness, Prometheus metrics, the admin API under
 * `/api/v1` (token auth, scopes, validated bodies, OpenAPI), live updates, and the dashboard.
 */
export function buildServer(options: ServerOptions): { app: FastifyInstance; events: RunEvents } {
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT });
  return { app, events: install(app, options) };
}

const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * The same server as a Fastify plugin, for a service that mounts it into its own app under a
 * prefix: `await app.register(sluiceApi, { prefix: '/admin/sluice', sluice, metrics })`. Its
 * hooks (auth, Host check, headers, error answers) and its body limit apply to its own routes
 * only (Fastify's encapsulation): the service's routes are left as they were. The dashboard is
 * at `<prefix>/`.
 */
export async function sluiceApi(app: FastifyInstance, options: ServerOptions): Promise<void> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= bodyLimit;
  });
  install(app, options);
}

/** Everything of the server on `app` (a whole app, or a plugin's encapsulated context). */
function install(app: FastifyInstance, options: ServerOptions): RunEvents {
  const logger = options.logger ?? silentLogger;
  installErrorHandler(app, logger);
  installHostCheck(app, options.allowedHosts ?? []);
  // JSON only: a text/plain body is a 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.addHook('preHandler', requireScope(options.sluice.store, new AuthFailures(options.authFailureLimit)));
  const deadlineMs = options.answerDeadlineMs ?? ANSWER_DEADLINE_MS;
  installAnswerDeadline(app, deadlineMs);
  // Answers are data, never pages to frame or scripts to sniff.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    // Runs, tokens and errors are live and private: no browser or proxy keeps a copy (the dashboard's files set their own).
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
  // Error answers name the run, never where the store is, and carry no secret or bidi trick.
  const location = options.sluice.store.location;
  app.addHook('preSerialization', async (_request, reply, payload) => {
    if (reply.statusCode < 400 || payload === null || typeof payload !== 'object' || Array.isArray(payload)) return payload;
    const body = { ...(payload as Record<string, unknown>) };
    for (const field of ['error', 'message', 'hint']) {
      const value = body[field];
      if (typeof value === 'string') body[field] = publicMessage(reply.statusCode === 400 ? apiWording(value) : value, location);
    }
    return body;
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      // Within the answer deadline: a store that hangs makes the server unready, not silent.
      await withDeadline(options.sluice.store.listRuns({ limit: 1 }), Math.max(100, deadlineMs - 500), 'the store');
      return { status: 'ready' };
    } catch (error) {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ status: 'unavailable', error: `the store does not answer: ${messageOf(error)}` });
    }
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await options.metrics.render();
    return reply.type(contentType).send(body);
  });

  const events = new RunEvents(options.sluice, logger, options.eventsIntervalMs);
  const routes = apiRoutes(options.sluice, { tokenRevoked: (id) => events.revoked(id) });
  for (const route of routes) registerRoute(app, route);
  const document = openApiDocument(routes, options.version ?? '0.0.0', app.prefix === '' ? '/' : app.prefix);
  app.get('/api/v1/openapi.json', { config: { scope: 'read' } }, async () => document);

  app.get('/api/v1/events', { config: { scope: 'read' } }, async (request, reply) => {
    reply.hijack();
    request.raw.on('close', () => reply.raw.end());
    try {
      await events.subscribe(reply.raw, request.token?.id);
    } catch (error) {
      // The stream is ours now (hijacked): end it; the client reconnects.
      logger.warn({ err: error }, `live updates could not start: ${messageOf(error)}`);
      reply.raw.end();
    }
  });
  // Before the server waits for open requests: the streams never end by themselves.
  app.addHook('preClose', async () => events.close());

  for (const [path, asset] of Object.entries(ASSETS)) {
    app.get(path, async (request, reply) => {
      // The page's links are relative (it may live under a prefix): its address must end in "/".
      const [pathname, query] = request.url.split('?', 2);
      if (path === '/' && !pathname!.endsWith('/')) return reply.redirect(`${pathname}/${query === undefined ? '' : `?${query}`}`, 308);
      reply.header(
        'content-security-policy',
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
      reply.header('cache-control', 'no-cache');
      return reply.type(asset.type).send(await readFile(asset.file()));
    });
  }
  return events;
}
