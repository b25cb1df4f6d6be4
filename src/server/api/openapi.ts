import { z } from 'zod';
import type { AnyRoute } from './route.js';

/**
 * The OpenAPI 3.1 document of `/api/v1`, generated from the same zod schemas that validate the
 * requests, so that it cannot drift from what the server accepts.
 */
export function openApiDocument(routes: readonly AnyRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorResponse = { description: 'an error: `{ error, message, field? }`', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const all = [
    ...routes,
    { method: 'GET', url: '/api/v1/events', scope: 'read', tag: 'events', summary: 'Server-sent events: `runs` (a snapshot) then `run` per change' } as AnyRoute,
    { method: 'GET', url: '/api/v1/openapi.json', scope: 'read', tag: 'meta', summary: 'This document' } as AnyRoute,
  ];
  for (const route of all) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
      if (!schema) continue;
      const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, property] of Object.entries(json.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: property });
      }
    }
    const operation: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${route.url.replace(/\/api\/v1/, '').replace(/[/:-]+([a-z])/g, (_m, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      tags: [route.tag],
      security: [{ bearer: [] }, { apiKey: [] }],
      'x-scope': route.scope,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(route.body, { io: 'input', unrepresentable: 'any' }) } } } } : {}),
      responses: {
        [String(route.status ?? 200)]: { description: 'success', content: { [route.url.endsWith('/events') ? 'text/event-stream' : 'application/json']: { schema: {} } } },
        400: errorResponse, 401: errorResponse, 403: errorResponse, 404: errorResponse,
      },
    };
    (paths[path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice admin API', version, description: 'Start, watch and steer backfills. Every route needs a token (`sluice token create --scope read|write|admin`).' },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: {
        Error: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } },
      },
    },
  };
}
