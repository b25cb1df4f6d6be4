import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { TokenScope } from '../../core/run.js';
import { ApiError } from '../http-errors.js';

/** A route of the API: its schemas validate requests and describe it in the OpenAPI document. */
export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  scope: TokenScope;
  summary: string;
  tag: string;
  body?: B;
  query?: Q;
  params?: P;
  /** Status of a success. Default 200. */
  status?: number;
  /** The body of each success status the route answers with (the OpenAPI document is generated from them). */
  responses: Record<number, z.ZodType>;
  /** Error statuses particular to the route (404, 409); those every route may send are added by the document. */
  errors?: readonly number[];
  handler(input: {
    body: z.infer<B>;
    query: z.infer<Q>;
    params: z.infer<P>;
    request: FastifyRequest;
    reply: FastifyReply;
  }): Promise<unknown>;
}

export type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

/** Validates `value` against `schema`; a failure is a 400 naming the first bad field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'path'): z.infer<S> {
  const nul = nulPath(value, where);
  // PostgreSQL cannot store a NUL in text, and no name or reason needs one: refuse it here, by name.
  if (nul !== undefined)
    throw new ApiError(400, 'bad_request', `${where}${nul ? `.${nul}` : ''}: must not contain NUL characters`, nul || undefined);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const message =
    issue.code === 'unrecognized_keys'
      ? `${where}: unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`
      : `${where}${field ? `.${field}` : ''}: ${issue.message}`;
  throw new ApiError(400, 'bad_request', message, issue.code === 'unrecognized_keys' ? issue.keys[0] : field || undefined);
}

export function registerRoute(app: FastifyInstance, route: AnyRoute): void {
  app.route({
    method: route.method,
    url: route.url,
    config: { scope: route.scope },
    handler: async (request, reply) => {
      const params = route.params ? parse(route.params, request.params, 'path') : undefined;
      const query = route.query ? parse(route.query, request.query ?? {}, 'query') : undefined;
      const body = route.body ? parse(route.body, request.body ?? {}, 'body') : undefined;
      // The route's success status first, so that a handler that sets its own (a dry run's 200) keeps it.
      reply.code(route.status ?? 200);
      const result = await route.handler({ body, query, params, request, reply });
      if (reply.sent) return reply;
      return reply.send(result);
    },
  });
}

/** Types a route's handler from its schemas (an array of routes would lose them). */
export function route<B extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown, P extends z.ZodType = z.ZodUnknown>(
  spec: RouteSpec<B, Q, P>,
): AnyRoute {
  return spec as unknown as AnyRoute;
}

/** Deeper than any body of the API needs; a hostile body nests thousands of levels to exhaust the stack. */
export const MAX_DEPTH = 32;

/**
 * The path of the first string (value or key) holding a NUL character, if any; a 400 when the
 * value nests deeper than MAX_DEPTH. Iterative, so that no nesting can overflow the stack.
 */
function nulPath(root: unknown, where: string): string | undefined {
  const pending: Array<{ value: unknown; path: string[] }> = [{ value: root, path: [] }];
  while (pending.length > 0) {
    const { value, path } = pending.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path.join('.');
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= MAX_DEPTH)
      throw new ApiError(400, 'bad_request', `${where}: nested deeper than ${MAX_DEPTH} levels; no field of this API needs that`);
    const entries = Object.entries(value);
    for (const [key] of entries) if (key.includes('\u0000')) return [...path, key.replace(/\u0000/g, '')].join('.');
    // Reversed onto the stack: the first field is looked at first, as the message names the first NUL.
    for (let i = entries.length - 1; i >= 0; i--) pending.push({ value: entries[i]![1], path: [...path, entries[i]![0]] });
  }
  return undefined;
}
