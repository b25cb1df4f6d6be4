import Fastify, { type FastifyInstance } from 'fastify';
import { messageOf } from '../core/errors.js';
import type { Sluice } from '../core/sluice.js';
import type { RunMetrics } from '../observe/run-metrics.js';

export interface ServerOptions {
  sluice: Sluice;
  metrics: RunMetrics;
  /** Request body limit in bytes. Default 64 KiB. */
  bodyLimit?: number;
}

/**
 * The HTTP server of `sluice serve`: health, readiness and Prometheus metrics. The admin API and
 * the dashboard mount on the same instance.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? 64 * 1024 });

  // Liveness: the process answers.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Readiness: the store answers too.
  app.get('/readyz', async (_request, reply) => {
    try {
      await options.sluice.store.listRuns({ limit: 1 });
      return { status: 'ready', store: options.sluice.store.location.replace(/\/\/[^@/]*@/, '//***@') };
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', error: `the store does not answer: ${messageOf(error)}` });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await options.metrics.render();
    return reply.type(contentType).send(body);
  });

  return app;
}
