import { z } from 'zod';
import { RUN_STATES } from '../../core/run-state.js';

/**
 * The bodies the API answers with, as zod schemas: the OpenAPI document's responses are generated
 * from them, and the contract test checks every answer the API tests receive against that
 * document. Records whose detail belongs to the core (a run's options, a partition's cursor) are
 * open objects with their fixed fields named; the API's own shapes are closed.
 */

const instant = z.string().describe('ISO 8601 instant');
const state = z.enum(RUN_STATES);
const scope = z.enum(['read', 'write', 'admin']);

export const errorBody = z.object({
  error: z.string().describe('a stable code: bad_request, unauthorized, forbidden, not_found, invalid_transition, …'),
  message: z.string().describe('what was wrong and what to do'),
  field: z.string().optional().describe('the field at fault'),
  hint: z.string().optional(),
});

const counts = z.object({ received: z.number(), processed: z.number(), skipped: z.number(), failed: z.number(), quarantined: z.number() });
const control = z.object({ kind: z.enum(['pause', 'cancel']), actor: z.string(), reason: z.string(), requestedAt: instant }).nullable();

export const runSummary = z.object({
  id: z.string(),
  backfill: z.string(),
  state,
  reason: z.string().nullable(),
  owner: z.string(),
  createdBy: z.string(),
  createdAt: instant,
  startedAt: instant.nullable(),
  finishedAt: instant.nullable(),
  updatedAt: instant,
  counts,
  batches: z.number(),
  plannedItems: z.number().nullable(),
  progress: z.number().nullable().describe('0..1 of the plan'),
  rate: z.number().nullable().describe("items received per second, the run's average"),
  etaSeconds: z.number().nullable(),
  keys: z.record(z.string(), z.string()),
  control,
});

const runRecord = z.looseObject({
  id: z.string(),
  backfill: z.string(),
  state,
  params: z.looseObject({}),
  options: z.looseObject({}),
  createdBy: z.string(),
  createdAt: instant,
  updatedAt: instant,
  startedAt: instant.nullable(),
  finishedAt: instant.nullable(),
  reason: z.string().nullable(),
  control,
  counts,
  batches: z.number(),
  plannedItems: z.number().nullable(),
  keys: z.record(z.string(), z.string()),
});

const alert = z.looseObject({
  backfill: z.string(),
  slo: z.string(),
  tier: z.string(),
  severity: z.string(),
  state: z.string(),
  since: instant,
  burnLong: z.number(),
  burnShort: z.number().nullable(),
  summary: z.string(),
  updatedAt: instant,
});

const token = z.object({
  id: z.string(),
  name: z.string(),
  scope,
  createdBy: z.string(),
  createdAt: instant,
  revokedAt: instant.nullable(),
});

export const backfillsAnswer = z.object({
  backfills: z.array(
    z.looseObject({
      name: z.string(),
      source: z.string(),
      delivery: z.string(),
      batchSize: z.number(),
      concurrency: z.number(),
      slo: z.array(z.looseObject({ name: z.string() })),
    }),
  ),
});
export const runsAnswer = z.object({
  runs: z.array(runSummary),
  nextOffset: z.number().nullable().optional().describe('the offset of the next page; null on the last page'),
});
export const runAnswer = z.object({ run: runSummary });
export const enqueuedAnswer = z.object({ run: runSummary, outcome: z.enum(['created', 'open', 'requeued']) });
export const dryRunAnswer = z.object({ dryRun: z.literal(true), state, counts, batches: z.number(), durationMs: z.number() });
export const planAnswer = z.object({
  backfill: z.string(),
  params: z.looseObject({}),
  options: z.looseObject({}),
  keys: z.record(z.string(), z.string()),
  partitions: z.array(z.object({ label: z.string().nullable(), child: z.string().nullable() })),
  plannedItems: z.number().nullable(),
});
export const runStatusAnswer = z.looseObject({
  run: runRecord,
  at: instant,
  partitions: z.array(
    z.looseObject({
      index: z.number(),
      state: z.string(),
      fence: z.number(),
      leaseOwner: z.string().nullable(),
      leaseExpiresAt: instant.nullable(),
      leaseLive: z.boolean(),
      heartbeatAgeMs: z.number().nullable(),
    }),
  ),
  transitions: z.array(z.looseObject({ from: state.nullable(), to: state, actor: z.string(), reason: z.string(), at: instant })),
  quarantine: z.array(z.object({ errorClass: z.string(), count: z.number() })),
  active: z.boolean(),
  stalled: z.looseObject({ since: instant }).nullable(),
  decisions: z.array(z.looseObject({ kind: z.string(), reason: z.string(), at: instant })),
  throttle: z.object({ state: z.enum(['running', 'paused', 'slowed']), reason: z.string().nullable(), since: instant.nullable() }),
  alerts: z.array(alert),
  summary: runSummary,
});
export const batchesAnswer = z.object({
  batches: z.array(
    z.object({
      id: z.number(),
      runId: z.string(),
      backfill: z.string(),
      partition: z.number(),
      worker: z.string(),
      finishedAt: instant,
      durationMs: z.number(),
      counts,
      retries: z.record(z.string(), z.number()),
    }),
  ),
});
export const quarantineAnswer = z.object({
  entries: z.array(
    z.looseObject({
      id: z.number(),
      runId: z.string(),
      itemKey: z.unknown(),
      errorClass: z.string(),
      message: z.string(),
      payload: z.string().nullable(),
      attempts: z.number(),
      status: z.enum(['open', 'replayed']),
      createdAt: instant,
    }),
  ),
});
export const replayAnswer = z.object({ runId: z.string(), attempted: z.number(), replayed: z.number(), stillFailing: z.number() });
export const cancelledAnswer = z.object({ cancelled: z.array(runSummary) });
export const alertsAnswer = z.object({ alerts: z.array(alert) });
export const tokensAnswer = z.object({ tokens: z.array(token) });
export const createdTokenAnswer = token.extend({ token: z.string().describe('the secret: shown in this answer only') });
export const whoAmIAnswer = z
  .object({ id: z.string(), name: z.string(), scope, createdBy: z.string(), createdAt: instant })
  .describe('the token this request authenticated with');
export const reportAnswer = z
  .looseObject({ generatedAt: instant, run: z.looseObject({ id: z.string(), backfill: z.string(), state }), counts })
  .describe("the run's audit report (the report the CLI prints as JSON)");
export const grafanaAnswer = z
  .looseObject({ title: z.string(), panels: z.array(z.looseObject({})) })
  .describe('a Grafana dashboard (import it as JSON), as `sluice slo dashboard`');
export const revokedAnswer = z.object({ revoked: z.string() });
export const openApiAnswer = z.looseObject({ openapi: z.string(), paths: z.looseObject({}) });
