import type { FastifyInstance, FastifyReply } from 'fastify';
import { isTransientStoreError } from '../core/errors.js';

/**
 * How the server behaves while its store cannot answer (a database that is down, unreachable or
 * hung): every request that needs the store is answered 503 with a body that says so, within a
 * bounded time, and the server recovers by itself when the store answers again.
 */

/** Default bound on an API answer, and on /readyz's look at the store. */
export const ANSWER_DEADLINE_MS = 4_000;

/** Seconds a client should wait before trying again (the `Retry-After` of a 503). */
const RETRY_AFTER_S = 5;

/** True when `error` says the store cannot answer now (refused, dropped, timed out), not that the request was wrong. */
export function isStoreUnavailable(error: unknown): boolean {
  return isTransientStoreError(error);
}

/** The 503 answer for a store that cannot answer. */
export function sendStoreUnavailable(reply: FastifyReply, detail: string): FastifyReply {
  return reply
    .code(503)
    .header('retry-after', String(RETRY_AFTER_S))
    .send({
      error: 'store_unavailable',
      message: `the store does not answer: ${detail}`,
      hint: 'the server answers again by itself once its database does; GET /readyz shows when; check the database and the server log',
    });
}

/** `promise`, or a rejection after `ms` (the promise is left to settle on its own). */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Answers 503 for any request still unanswered after `ms`: a store that hangs leaves the handler
 * waiting (up to the store's own query timeout), but the client gets its answer now. The handler's
 * late result is dropped (its route checks `reply.sent`). Streams that the handler took over
 * (`reply.hijack()`, the live updates) are left alone.
 */
export function installAnswerDeadline(app: FastifyInstance, ms: number): void {
  const timers = new WeakMap<object, NodeJS.Timeout>();
  app.addHook('onRequest', async (request, reply) => {
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent || request.raw.destroyed) return;
      sendStoreUnavailable(reply, `no answer within ${ms} ms; the request may still take effect, check before repeating a write`);
    }, ms);
    timer.unref();
    timers.set(request, timer);
  });
  const clear = async (request: object) => clearTimeout(timers.get(request));
  app.addHook('onResponse', clear);
  app.addHook('onRequestAbort', clear);
  app.addHook('preHandler', async (request) => {
    // Once authenticated, the live-updates stream is a long-lived answer of its own: no deadline.
    if (request.routeOptions.url === '/api/v1/events') clearTimeout(timers.get(request));
  });
}
