import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
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
  handler(input: { body: z.infer<B>; query: z.infer<Q>; params: z.infer<P>; request: FastifyRequest; reply: FastifyReply }): Promise<unknown>;
}

export type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

/** Validates `value` against `schema`; a failure is a 400 naming the first bad field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'path'): z.infer<S> {
  const nul = nulPath(value, []);
  // PostgreSQL cannot store a NUL in text, and no name or reason needs one: refuse it here, by name.
  if (nul !== undefined) throw new ApiError(400, 'bad_request', `${where}${nul ? `.${nul}` : ''}: must not contain NUL characters`, nul || undefined);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const message = issue.code === 'unrecognized_keys'
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
      const result = await route.handler({ body, query, params, request, reply });
      if (reply.sent) return reply;
      return reply.code(route.status ?? 200).send(result);
    },
  });
}

/** Types a route's handler from its schemas (an array of routes would lose them). */
export function route<B extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown, P extends z.ZodType = z.ZodUnknown>(spec: RouteSpec<B, Q, P>): AnyRoute {
  return spec as unknown as AnyRoute;
}

/** The path of the first string (value or key) holding a NUL character, if any. */
function nulPath(value: unknown, path: string[]): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, inner] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key.replace(/\u0000/g, '')].join('.');
    const found = nulPath(inner, [...path, key]);
    if (found !== undefined) return found;
  }
  return undefined;
}
