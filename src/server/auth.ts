import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenRecord, TokenScope } from '../core/run.js';
import type { ApiTokens } from '../core/store.js';
import type { AuthFailures } from './auth-failures.js';
import { ApiError } from './http-errors.js';
import { allows, verifyToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The token the request authenticated with (every /api/v1 route). */
    token?: TokenRecord;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public (health). */
    scope?: TokenScope;
  }
}

/** `Authorization: Bearer <token>` or `X-API-Key: <token>`. */
function presented(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (match) return match[1];
  }
  const key = request.headers['x-api-key'];
  return typeof key === 'string' && key.length > 0 ? key.trim() : undefined;
}

/**
 * A preHandler: 401 without a valid token, 403 when its scope is too low, 429 (Retry-After) for a
 * client that presented too many invalid tokens lately, whatever it presents now.
 */
export function requireScope(store: ApiTokens, failures: AuthFailures) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const needed = request.routeOptions.config.scope;
    if (needed === undefined) return;
    const wait = failures.retryAfterSeconds(request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      throw new ApiError(429, 'too_many_requests', `too many invalid API tokens from this address; try again in ${wait} s`);
    }
    const value = presented(request);
    if (value === undefined)
      throw new ApiError(
        401,
        'unauthorized',
        'send an API token as "Authorization: Bearer <token>" or "X-API-Key: <token>" (create one with `createToken` from sluice/server, or `sluice token create`)',
      );
    const token = value.length > 200 ? undefined : await verifyToken(store, value);
    if (!token) {
      failures.recordFailure(request.ip);
      throw new ApiError(401, 'unauthorized', 'the API token is not valid (unknown, revoked or malformed)');
    }
    if (!allows(token.scope, needed))
      throw new ApiError(403, 'forbidden', `this endpoint needs a ${needed} token; this one is ${token.scope}`);
    request.token = token;
  };
}

/** Who a write is recorded as in the transition log. */
export function actorOf(request: FastifyRequest): string {
  return request.token ? `token:${request.token.name}` : 'api';
}
