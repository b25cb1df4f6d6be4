import type { FastifyError, FastifyInstance } from 'fastify';
import { errorTextIn } from '../core/error-terms.js';
import { isSluiceError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { apiTerms } from './api/api-wording.js';
import { isStoreUnavailable, sendStoreUnavailable } from './store-unavailable.js';

/** An error the API answers with its own status and a body that says what to fix. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The status of each Sluice error code a client can act on (the rest are the server's failures). */
const SLUICE_STATUS: Record<string, number> = {
  NOT_FOUND: 404,
  INVALID_TRANSITION: 409,
  RUN_QUEUED: 409,
  RUN_ALREADY_SUCCEEDED: 409,
  RUN_OPEN: 409,
  USAGE: 400,
  CONCURRENCY_KEY_MISSING: 400,
  CONFIG_INVALID: 400,
};

/**
 * Every error becomes `{ error, message, field? }` with a 4xx for what the client can fix; a 5xx
 * only for the server's own failures (logged, with no internals in the body). A Sluice error's
 * message and `hint` name the API's routes and fields where the core names a library call or
 * option (`apiTerms`).
 */
export function installErrorHandler(app: FastifyInstance, logger: Logger): void {
  const terms = apiTerms(app.prefix);
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    // Answered already (the answer deadline's 503): the handler's late failure has no one to go to.
    if (reply.sent) return reply;
    if (error instanceof ApiError) {
      return reply.code(error.status).send({ error: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) });
    }
    if (isSluiceError(error) && SLUICE_STATUS[error.code] !== undefined) {
      const { message, hint } = errorTextIn(error, terms);
      // A plain usage error is the API's `bad_request`, as a bad body field is; the others keep their own code.
      const code = error.code === 'USAGE' ? 'bad_request' : error.code.toLowerCase();
      return reply.code(SLUICE_STATUS[error.code]!).send({ error: code, message, ...(hint ? { hint } : {}) });
    }
    const fastify = error as FastifyError;
    if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.code(413).send({ error: 'body_too_large', message: 'the request body is larger than the server accepts' });
    if (fastify.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send the body as application/json' });
    if (fastify.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
      return reply.code(400).send({ error: 'bad_request', message: 'the body is empty; send a JSON object' });
    if (
      error instanceof SyntaxError ||
      fastify.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      (fastify.statusCode === 400 && /JSON/i.test(error.message))
    ) {
      return reply.code(400).send({ error: 'bad_request', message: 'the body is not valid JSON' });
    }
    if (fastify.statusCode !== undefined && fastify.statusCode >= 400 && fastify.statusCode < 500) {
      return reply.code(fastify.statusCode).send({ error: 'bad_request', message: error.message });
    }
    // A database that is down or hung is the store's outage, not the server's failure: 503, and the client may retry.
    if (isStoreUnavailable(error)) return sendStoreUnavailable(reply, messageOf(error));
    logger.error({ err: error, url: request.url, method: request.method }, `API request failed: ${redactSecrets(messageOf(error))}`);
    return reply.code(500).send({ error: 'internal', message: 'the server failed to handle the request; its log has the details' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}
