import { z } from 'zod';
import { errorBody, openApiAnswer } from './responses.js';
import type { AnyRoute } from './route.js';

/**
 * The OpenAPI 3.1 document of `/api/v1`, generated from the same zod schemas that validate the
 * requests, so that it cannot drift from what the server accepts.
 */
/** `base`: where the server is mounted (`/`, or the prefix a service registered it under). */
export function openApiDocument(routes: readonly AnyRoute[], version: string, base = '/'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const all: AnyRoute[] = [
    ...routes,
    {
      method: 'GET',
      url: '/api/v1/events',
      scope: 'read',
      tag: 'events',
      summary: 'Server-sent events: `runs` (a snapshot) then `run` per change',
      responses: {},
    } as unknown as AnyRoute,
    {
      method: 'GET',
      url: '/api/v1/openapi.json',
      scope: 'read',
      tag: 'meta',
      summary: 'This document',
      responses: { 200: openApiAnswer },
    } as unknown as AnyRoute,
  ];
  for (const route of all) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', route.params],
      ['query', route.query],
    ] as const) {
      if (!schema) continue;
      const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, property] of Object.entries(json.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: property });
      }
    }
    const responses: Record<string, unknown> = {};
    if (route.url.endsWith('/events')) {
      responses['200'] = {
        description: 'the stream: `event: runs` with `{ runs: RunSummary[] }`, then `event: run` with a RunSummary per change',
        content: { 'text/event-stream': { schema: { type: 'string' } } },
      };
    }
    for (const [status, schema] of Object.entries(route.responses)) {
      responses[status] = {
        description: SUCCESS[Number(status)] ?? 'success',
        content: { 'application/json': { schema: jsonSchema(schema, 'output') } },
      };
    }
    for (const status of errorStatuses(route)) {
      responses[String(status)] = {
        description: ERRORS[status]!,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    const operation: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${route.url.replace(/\/api\/v1/, '').replace(/[/:-]+([a-z])/g, (_m, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      tags: [route.tag],
      security: [{ bearer: [] }, { apiKey: [] }],
      'x-scope': route.scope,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } }
        : {}),
      responses,
    };
    (paths[path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice admin API',
      version,
      description:
        'Start, watch and steer backfills. Every route needs a token of scope read, write or admin (`createToken` from sluice/server, or `sluice token create`).',
    },
    servers: [{ url: base }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: { Error: jsonSchema(errorBody, 'output') },
    },
  };
}

const SUCCESS: Record<number, string> = { 200: 'success', 201: 'created' };

const ERRORS: Record<number, string> = {
  400: 'the request is malformed: a bad field, bad JSON, nesting deeper than 32 levels, a NUL character',
  401: 'no token, or not a valid one',
  403: "the token's scope is too low",
  404: 'the run, backfill or token does not exist',
  409: 'the run is not in a state that allows this',
  413: 'the body is larger than the server accepts',
  415: 'the body is not application/json',
  421: 'the Host header names a host this server does not answer to',
  429: 'too many invalid tokens from this address lately; see Retry-After',
  500: 'the server failed; its log has the details',
  503: 'the store does not answer',
};

/** The error statuses a route may answer with: those of every route, of its scope, of a body, and its own. */
function errorStatuses(route: AnyRoute): number[] {
  const statuses = new Set([400, 401, 421, 429, 500, 503, ...(route.errors ?? [])]);
  if (route.scope !== 'read') statuses.add(403);
  // A body may come with any POST or DELETE (a DELETE's is refused by the same parser).
  if (route.method !== 'GET') [413, 415].forEach((s) => statuses.add(s));
  return [...statuses].sort((a, b) => a - b);
}

/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema, without the `$schema` line. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return json;
}
