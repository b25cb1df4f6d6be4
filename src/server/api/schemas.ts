import { z } from 'zod';
import { NAME_PATTERN } from '../../core/definition.js';
import { RUN_STATES } from '../../core/run-state.js';

const text = (what: string, max: number) =>
  z.string({ error: `${what} must be a string` }).max(max, { error: `${what} must be at most ${max} characters` });
const int = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .int({ error: `${what} must be an integer` })
    .min(min, { error: `${what} must be at least ${min}` })
    .max(max, { error: `${what} must be at most ${max}` });
/** Query strings carry text: numbers are converted, and must be plain digits. */
const queryInt = (what: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, { error: `${what} must be a whole number` })
    .transform(Number)
    .pipe(int(what, min, max));
const backfillName = z
  .string({ error: 'backfill must be a string' })
  .regex(NAME_PATTERN, { error: 'backfill must be a backfill name (letters, digits, ".", "_", "-")' });
const reason = text('reason', 500).optional();
const instant = (what: string) => z.iso.datetime({ offset: true, error: `${what} must be an ISO 8601 instant like 2026-01-31T00:00:00Z` });

export const runIdParams = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'the run id must be letters, digits, "_" or "-"' }),
});
export const tokenIdParams = z.object({
  id: z.string().regex(/^[a-z0-9]{12}$/, { error: 'a token id is 12 lowercase letters or digits' }),
});

export const createRunBody = z
  .object(
    {
      backfill: backfillName,
      since: text('since', 40).optional().describe('only items since a duration ago (7d, 12h, 30m) or an ISO instant'),
      from: instant('from').optional().describe('passed to the backfill as params.from'),
      to: instant('to').optional().describe('passed to the backfill as params.to'),
      batchSize: int('batchSize', 1, 100_000).optional(),
      concurrency: int('concurrency', 1, 256).optional(),
      maxBatches: int('maxBatches', 1, 10_000_000).optional(),
      profile: z.enum(['background', 'moderate', 'fast'], { error: 'profile must be background, moderate or fast' }).optional(),
      owner: text('owner', 100)
        .min(1, { error: 'owner must not be empty' })
        .optional()
        .describe('who the run is for; shown in the runs list'),
      mode: z
        .enum(['normal', 'reprocess-all'], { error: 'mode must be normal or reprocess-all' })
        .optional()
        .describe('reprocess-all delivers items the ledger already holds again'),
      dryRun: z
        .boolean({ error: 'dryRun must be true or false' })
        .optional()
        .describe('run here with ctx.dryRun, record nothing, answer with the counts (needs maxBatches ≤ 100)'),
      new: z
        .boolean({ error: 'new must be true or false' })
        .optional()
        .describe(
          'record another run even when the backfill has an open run with the same params, or succeeded with them; without it the open run is answered (200) and a success is a 409',
        ),
      params: z
        .record(
          z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/, { error: 'params keys must be identifiers' }),
          z.union([text('a params value', 1000), z.number(), z.boolean()], { error: 'params values must be strings, numbers or booleans' }),
          { error: 'params must be an object of strings, numbers or booleans' },
        )
        .optional()
        .describe('passed to process as ctx.run.params.extra; concurrency keys are read from here'),
      reason,
    },
    { error: 'the body must be a JSON object' },
  )
  .strict();

export const listRunsQuery = z
  .object({
    backfill: backfillName.optional(),
    state: z.enum(RUN_STATES, { error: `state must be one of ${RUN_STATES.join(', ')}` }).optional(),
    limit: queryInt('limit', 1, 1000).optional(),
    offset: queryInt('offset', 0, 100_000)
      .optional()
      .describe("runs to skip (newest first), for paging; the answer's nextOffset is the next page"),
    key: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,62}=.{1,200}$/, { error: 'key must look like installationId=42' })
      .optional(),
  })
  .strict();

export const controlBody = z.object({ reason }, { error: 'the body must be a JSON object' }).strict();

const RETUNE_KNOBS = ['batchSize', 'concurrency', 'batchDelayMs', 'maxMemoryMb', 'profile'];

export const retuneBody = z
  .object(
    {
      batchSize: int('batchSize', 1, 100_000).optional(),
      concurrency: int('concurrency', 1, 256).optional(),
      batchDelayMs: int('batchDelayMs', 0, 3_600_000).optional(),
      maxMemoryMb: int('maxMemoryMb', 1, 1_000_000).optional(),
      profile: z.enum(['background', 'moderate', 'fast'], { error: 'profile must be background, moderate or fast' }).optional(),
      reason,
    },
    { error: 'the body must be a JSON object' },
  )
  .strict()
  .refine((b) => Object.keys(b).some((k) => k !== 'reason'), {
    error: 'give at least one of batchSize, concurrency, batchDelayMs, maxMemoryMb, profile',
  })
  // The refinement, said in JSON Schema for the OpenAPI document (zod cannot translate a refine): a reason alone is refused.
  .meta({ anyOf: RETUNE_KNOBS.map((knob) => ({ required: [knob] })) });

export const batchesQuery = z
  .object({ afterId: queryInt('afterId', 0, 1e9).optional(), limit: queryInt('limit', 1, 10_000).optional() })
  .strict();

export const quarantineQuery = z
  .object({
    errorClass: text('errorClass', 100).optional(),
    status: z.enum(['open', 'replayed'], { error: 'status must be open or replayed' }).optional(),
    limit: queryInt('limit', 1, 1000).optional(),
    afterId: queryInt('afterId', 0, 1e12).optional(),
  })
  .strict();

export const replayBody = z
  .object(
    {
      errorClass: text('errorClass', 100).optional(),
      ids: z
        .array(int('ids[]', 1, Number.MAX_SAFE_INTEGER), { error: 'ids must be an array of quarantine entry ids' })
        .max(10_000)
        .optional(),
      reason,
    },
    { error: 'the body must be a JSON object' },
  )
  .strict();

export const cancelByKeyBody = z
  .object(
    {
      name: z
        .string({ error: 'name must be a string' })
        .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/, { error: 'name must be a concurrency key name like installationId' }),
      value: text('value', 200).min(1, { error: 'value must not be empty' }),
      reason,
    },
    { error: 'the body must be a JSON object' },
  )
  .strict();

export const createTokenBody = z
  .object(
    {
      name: z
        .string({ error: 'name must be a string' })
        .regex(/^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/, { error: 'name must be 1-64 letters, digits, spaces, ".", "_", "@" or "-"' }),
      scope: z.enum(['read', 'write', 'admin'], { error: 'scope must be read, write or admin' }),
    },
    { error: 'the body must be a JSON object' },
  )
  .strict();

export const emptyQuery = z.object({}).strict();

export const planBody = z
  .object(
    {
      backfill: backfillName,
      since: createRunBody.shape.since,
      concurrency: createRunBody.shape.concurrency,
      batchSize: createRunBody.shape.batchSize,
      params: createRunBody.shape.params,
    },
    { error: 'the body must be a JSON object' },
  )
  .strict();
