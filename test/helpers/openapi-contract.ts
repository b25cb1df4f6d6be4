import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

interface Answer {
  method: string;
  route: string;
  status: number;
  contentType: string;
  body: string;
}

type Document = {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
};

/**
 * Records every answer of the server's `/api/v1` routes (a fastify onSend hook) and checks each
 * against the server's OpenAPI document: its status must be documented for its operation, and its
 * body must match that status's schema.
 */
export class ContractRecorder {
  private readonly answers: Answer[] = [];

  install(app: FastifyInstance): void {
    app.addHook('onSend', async (request, reply, payload) => {
      const route = request.routeOptions.url;
      if (route?.startsWith('/api/v1') && request.method !== 'HEAD') {
        this.answers.push({
          method: request.method,
          route,
          status: reply.statusCode,
          contentType: String(reply.getHeader('content-type') ?? ''),
          body: typeof payload === 'string' ? payload : String(payload ?? ''),
        });
      }
      return payload;
    });
  }

  get count(): number {
    return this.answers.length;
  }

  /** What broke the contract, one line each (empty: every answer matched). */
  violations(document: Document): string[] {
    const validators = new Map<string, z.ZodType>();
    const problems: string[] = [];
    for (const answer of this.answers) {
      const path = answer.route.replace(/:([A-Za-z]+)/g, '{$1}');
      const operation = document.paths[path]?.[answer.method.toLowerCase()];
      const where = `${answer.method} ${path} → ${answer.status}`;
      if (!operation) {
        problems.push(`${where}: the operation is not documented`);
        continue;
      }
      const response = operation.responses[String(answer.status)];
      if (!response) {
        problems.push(`${where}: the status is not documented (documented: ${Object.keys(operation.responses).join(', ')})`);
        continue;
      }
      const media = Object.keys(response.content ?? {})[0];
      if (media !== 'application/json') continue; // the event stream
      if (!answer.contentType.startsWith('application/json')) {
        problems.push(`${where}: answered ${answer.contentType}, documented application/json`);
        continue;
      }
      const key = `${where}`;
      let validator = validators.get(key);
      if (!validator) {
        validator = z.fromJSONSchema(resolve(response.content![media]!.schema, document) as Parameters<typeof z.fromJSONSchema>[0]);
        validators.set(key, validator);
      }
      const result = validator.safeParse(JSON.parse(answer.body));
      if (!result.success)
        problems.push(
          `${where}: the body does not match its schema: ${result.error.issues
            .slice(0, 3)
            .map((i) => `${i.path.join('.')}: ${i.message}`)
            .join('; ')} in ${answer.body.slice(0, 300)}`,
        );
    }
    return problems;
  }
}

/** The schema with `#/components/schemas/…` references replaced by what they name. */
function resolve(schema: unknown, document: Document): unknown {
  if (Array.isArray(schema)) return schema.map((s) => resolve(s, document));
  if (schema === null || typeof schema !== 'object') return schema;
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/'))
    return resolve(document.components.schemas[ref.slice('#/components/schemas/'.length)], document);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolve(v, document)]));
}
