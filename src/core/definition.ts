import { z } from 'zod';
import { ConfigError } from './errors.js';
import { MAX_BATCH_DELAY_MS, MAX_TIMER_MS } from './duration-limits.js';
import type { ItemKey } from './cursor.js';
import type { RetryPolicy, RunParams } from './run.js';
import type { ItemOutcomes } from './item-reports.js';
import type { Source } from './source.js';
import type { Logger } from './logger.js';
import type { SqlTransaction } from './sql.js';
import type { ControllerOptions } from './throttle/controller.js';
import { type Knobs, PROFILE_NAMES, type ProfileName } from './throttle/knobs.js';
import { parseSchedule, type Schedule, type ScheduleInput } from './throttle/schedule.js';
import { parseSloConfig, type SloConfig, type SloConfigInput } from './slo/slo.js';
import type { VerifyCheck } from './verify.js';
import type { HealthSignal } from './throttle/signal.js';

/**
 * How a backfill achieves exactly-once in effect (see docs/exactly-once.md):
 * - `transactional`: `process` writes through `ctx.tx` into the store's own database; its writes,
 *   the checkpoint and the ledger commit in one transaction.
 * - `at-least-once`: `process` writes anywhere; delivered keys go into the permanent ledger in the
 *   checkpoint transaction, so a re-run skips them, and `ctx.idempotencyKey(item)` lets the target
 *   drop the rare repeat (a crash between `process` and the commit).
 * - `idempotent`: only for writes that are safe to repeat (`SET col = f(row)`, an upsert, a PUT
 *   with an idempotency key). `process` commits its writes on its own, and the checkpoint is
 *   written at most every `checkpointEvery` (1 s or 100 batches by default), at the end of each
 *   partition and whenever the lane stops or hands its partition back: a crash repeats the batches
 *   since the last written checkpoint (fewer than `checkpointEvery.batches` per lane, plus the one
 *   in flight). The name states the promise the writes must keep, not a speed.
 */
export type DeliveryMode = 'transactional' | 'at-least-once' | 'idempotent';

/** How often a `delivery: 'idempotent'` backfill writes its checkpoint: whichever comes first. */
export interface CheckpointEvery {
  /** Once the oldest batch not yet checkpointed started this long ago (ms). Default 1000. */
  ms: number;
  /** Once this many batches wait for a checkpoint. Default 100. */
  batches: number;
}

export const DEFAULT_CHECKPOINT_EVERY: CheckpointEvery = Object.freeze({ ms: 1000, batches: 100 });

/**
 * What `process` gets besides its batch; `Delivery` decides whether `tx` is there. Items it
 * reports nothing of succeeded once it returns; `fail` and `retryLater` (from ItemOutcomes)
 * settle single items without failing the batch, and a thrown error still means the whole batch failed.
 */
export interface ProcessContext<Delivery extends DeliveryMode = DeliveryMode> extends ItemOutcomes {
  readonly run: { readonly id: string; readonly backfill: string; readonly params: RunParams };
  readonly partition: number;
  /** 1-based attempt of this batch (retries increase it). */
  readonly attempt: number;
  /** True in `--dry-run`: do the work but change nothing outside `ctx.tx` (which is rolled back). */
  readonly dryRun: boolean;
  /**
   * The batch transaction on the store's database: there for `delivery: 'transactional'`, absent
   * otherwise. Its driver's client: `pgClient(ctx)` from `sluice/postgres`, `sqliteDatabase(ctx)` from `sluice/sqlite`.
   */
  readonly tx: Delivery extends 'transactional' ? SqlTransaction : undefined;
  /** Deterministic idempotency key of an item, the same on every run and re-run. */
  idempotencyKey(item: unknown): string;
  /**
   * This batch's own signal, aborted when the run is paused or cancelled, when this worker loses the
   * partition's lease, or when the host aborts the batches in flight (`run.abortInFlight()`, a
   * second Ctrl-C); its `reason` is a `BatchAbortedError` saying why (a `LeaseLostError` for a lost
   * lease). Pass it on (to `fetch`, a driver's query): a batch that then fails ends uncommitted, is
   * neither retried nor quarantined, and is redone on resume. A new signal per batch, so listeners
   * added to it go with the batch.
   */
  readonly signal: AbortSignal;
  /** The host's logger (the `logger` option) bound to this batch: `runId`, `backfill`, `partition`, `batch`, `attempt`. */
  readonly logger: Logger;
}

/** What the user writes once. */
export interface BackfillDefinitionInput<Item, Delivery extends DeliveryMode = DeliveryMode> {
  /** Unique name: letters, digits, `.`, `_`, `-`. */
  name: string;
  description?: string;
  source: Source<Item>;
  /** Stable item key; defaults to the source's (e.g. the keyset columns). */
  key?: (item: Item) => ItemKey | number;
  /** The same function the real-time path uses, called once per batch. */
  process: (batch: Item[], ctx: ProcessContext<Delivery>) => Promise<void> | void;
  delivery?: Delivery;
  /**
   * `delivery: 'idempotent'` only: write the checkpoint once the oldest uncheckpointed batch is
   * `ms` old or `batches` batches wait, whichever comes first (default `{ ms: 1000, batches: 100 }`).
   * A crash repeats at most `batches` batches per lane (those waiting plus the one in flight).
   */
  checkpointEvery?: Partial<CheckpointEvery>;
  /** Record delivered keys in the permanent ledger and skip them. Default: on for at-least-once, off for transactional and idempotent. */
  dedup?: boolean;
  /** Ledger namespace; defaults to the name. Two backfills sharing a namespace never deliver a key twice. */
  ledgerNamespace?: string;
  batchSize?: number;
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Pause the run when quarantined / received exceeds this (0..1). Default 0.01. */
  maxFailureRatio?: number;
  /**
   * Limits per run parameter, enforced across every worker: `{ installationId: { runs: 1 } }` lets
   * one run per installation execute while a second trigger queues behind it; `{ orgId: { partitions: 5 } }`
   * caps the partitions leased at once for one org. Every run must then pass the parameter.
   */
  concurrencyKeys?: Record<string, ConcurrencyKeyLimit>;
  /** At most this many partitions of this backfill leased at once, over all runs and workers. */
  maxRunningPartitions?: number;
  /**
   * Fan a run out into children (entity types, tenants): each child gets its own partitions, read
   * by the source with `child` set, and `sluice status` reports success and errors per child.
   */
  fanOut?: FanOut;
  /** How gently to run: a profile, a delay between batches, guards and health signals. */
  throttle?: ThrottleInput;
  /**
   * Service level objectives (batch duration, error ratio) with burn-rate alert tiers: evaluated in
   * process, exported as Prometheus rules and a Grafana dashboard, alerts sent to webhooks.
   */
  slo?: SloConfigInput;
  /** Checks `sluice verify <run>` runs after (or during) a run: parity, uniqueness, coverage, your own. */
  verify?: VerifyCheck[];
}

export interface ThrottleInput {
  /** `background` (100 items, 1 s apart, one lane), `moderate` or `fast`; explicit knobs override it. */
  profile?: ProfileName;
  /** Pause after each batch of a lane, in ms. */
  batchDelayMs?: number;
  /** Lanes wait while the process's RSS is above this many MB (and resume under 90 % of it). */
  maxMemoryMb?: number;
  /** Lanes yield between batches while the event loop lags more than this many ms. */
  maxEventLoopLagMs?: number;
  /** Health signals read before batches: `stop` pauses the lanes, `slow` halves batches. */
  signals?: readonly HealthSignal[];
  /** How long a reading is reused (ms). Default 1000. */
  signalIntervalMs?: number;
  /**
   * The adaptive controller: batch size steered on time per item towards `targetBatchMs` (default
   * 1 s); with a probe, lanes and a pause after each batch steered so that the foreground's p95
   * stays within the probe's budget. `true` for the defaults.
   */
  adaptive?: boolean | ControllerOptions;
  /** Time-of-day windows in a time zone, each with a profile; `otherwise: 'paused'` runs only inside them. */
  schedule?: ScheduleInput;
}

/** The throttle settings of a definition: what it sets explicitly (profiles fill in the rest). */
export interface DefinitionThrottle {
  readonly profile: ProfileName | undefined;
  readonly knobs: Partial<Knobs>;
  readonly signals: readonly HealthSignal[];
  readonly signalIntervalMs: number;
  readonly adaptive: ControllerOptions | undefined;
  readonly schedule: Schedule | undefined;
}

export interface ConcurrencyKeyLimit {
  /** Running runs with the same value; more triggers queue (stay pending) until one ends. */
  runs?: number;
  /** Leased partitions with the same value, over all runs. */
  partitions?: number;
}

export interface FanOut {
  /** What the children are, for status output: `entityType`, `tenant`. */
  by: string;
  /** The children, fixed or from the run's parameters (e.g. the entity types a provider offers). */
  children: readonly string[] | ((params: RunParams) => readonly string[] | Promise<readonly string[]>);
}

/** A validated definition with every default filled in. */
export interface BackfillDefinition<Item = unknown> {
  readonly name: string;
  readonly description: string;
  readonly source: Source<Item>;
  readonly key: (item: Item) => ItemKey | number;
  readonly process: (batch: Item[], ctx: ProcessContext) => Promise<void> | void;
  readonly delivery: DeliveryMode;
  /** When a coalesced checkpoint is written (`delivery: 'idempotent'`); undefined for the other modes, which checkpoint every batch. */
  readonly checkpointEvery: CheckpointEvery | undefined;
  readonly dedup: boolean;
  readonly ledgerNamespace: string;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly retry: RetryPolicy;
  readonly maxFailureRatio: number;
  readonly concurrencyKeys: Readonly<Record<string, ConcurrencyKeyLimit>>;
  readonly maxRunningPartitions: number | undefined;
  readonly fanOut: FanOut | undefined;
  readonly throttle: DefinitionThrottle;
  readonly slo: SloConfig | undefined;
  readonly verify: readonly VerifyCheck[];
}

export const DEFAULT_BATCH_SIZE = 500;
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 10_000 };
export const DEFAULT_MAX_FAILURE_RATIO = 0.01;
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

const positiveInt = (what: string) =>
  z
    .number({ error: (i) => `${what} must be a positive integer, got ${describe(i.input)}` })
    .int({ error: (i) => `${what} must be a positive integer, got ${describe(i.input)}` })
    .positive({ error: (i) => `${what} must be a positive integer, got ${describe(i.input)}` });

/** The options `defineBackfill` takes (exported for the docs' reference test). */
export const definitionSchema = z
  .object({
    name: z.string({ error: 'name must be a string' }).regex(NAME_PATTERN, {
      error: (i) => `name must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${describe(i.input)}`,
    }),
    description: z.string().optional(),
    source: z.custom<Source<unknown>>((v) => isSource(v), {
      error: 'source must be a Sluice source such as sqlKeyset(...), jsonl(...) or iterable(...)',
    }),
    key: z
      .custom<(item: unknown) => unknown>((v) => v === undefined || typeof v === 'function', {
        error: 'key must be a function (item) => string | number',
      })
      .optional(),
    process: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', {
      error: 'process must be a function (batch, ctx) => Promise<void>',
    }),
    delivery: z
      .enum(['transactional', 'at-least-once', 'idempotent'], {
        error: (i) => `delivery must be "transactional", "at-least-once" or "idempotent", got ${describe(i.input)}`,
      })
      .optional(),
    checkpointEvery: z
      .object({
        ms: positiveInt('checkpointEvery.ms')
          .max(MAX_TIMER_MS, { error: (i) => `checkpointEvery.ms must be at most ${MAX_TIMER_MS}, got ${describe(i.input)}` })
          .optional(),
        batches: positiveInt('checkpointEvery.batches')
          .max(100_000, { error: 'checkpointEvery.batches must be at most 100000' })
          .optional(),
      })
      .strict()
      .optional(),
    dedup: z.boolean({ error: 'dedup must be true or false' }).optional(),
    ledgerNamespace: z.string().regex(NAME_PATTERN, { error: 'ledgerNamespace must look like a backfill name' }).optional(),
    batchSize: positiveInt('batchSize').max(100_000, { error: 'batchSize must be at most 100000' }).optional(),
    concurrency: positiveInt('concurrency').max(256, { error: 'concurrency must be at most 256' }).optional(),
    retry: z
      .object({
        attempts: positiveInt('retry.attempts').max(100).optional(),
        baseDelayMs: z
          .number()
          .min(0, { error: 'retry.baseDelayMs must be ≥ 0' })
          .max(MAX_TIMER_MS, {
            error: (i) => `retry.baseDelayMs must be at most ${MAX_TIMER_MS} (the longest a timer can wait), got ${describe(i.input)}`,
          })
          .optional(),
        maxDelayMs: z
          .number()
          .min(0, { error: 'retry.maxDelayMs must be ≥ 0' })
          .max(MAX_TIMER_MS, {
            error: (i) => `retry.maxDelayMs must be at most ${MAX_TIMER_MS} (the longest a timer can wait), got ${describe(i.input)}`,
          })
          .optional(),
      })
      .strict()
      .optional(),
    maxFailureRatio: z
      .number({ error: (i) => `maxFailureRatio must be a number between 0 and 1, got ${describe(i.input)}` })
      .min(0, { error: (i) => `maxFailureRatio must be between 0 and 1, got ${describe(i.input)}` })
      .max(1, { error: (i) => `maxFailureRatio must be between 0 and 1, got ${describe(i.input)}` })
      .optional(),
    concurrencyKeys: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/, {
          error: (i) => `concurrencyKeys: key names must be parameter names (letters, digits, "_", ".", "-"), got ${describe(i.input)}`,
        }),
        z
          .object(
            {
              runs: positiveInt('concurrencyKeys.*.runs').optional(),
              partitions: positiveInt('concurrencyKeys.*.partitions').optional(),
            },
            { error: 'concurrencyKeys: each limit must be an object like { runs: 1 } or { partitions: 5 }' },
          )
          .strict()
          .refine((l) => l.runs !== undefined || l.partitions !== undefined, {
            error: 'concurrencyKeys: each key needs runs, partitions or both',
          }),
        { error: 'concurrencyKeys must be an object like { installationId: { runs: 1 } }' },
      )
      .optional(),
    maxRunningPartitions: positiveInt('maxRunningPartitions').optional(),
    fanOut: z
      .object(
        {
          by: z
            .string({ error: 'fanOut.by must name what the children are, e.g. "entityType"' })
            .min(1, { error: 'fanOut.by must not be empty' }),
          children: z.union(
            [
              z
                .array(z.string().min(1, { error: 'fanOut.children must be non-empty strings' }), {
                  error: 'fanOut.children must be an array of strings or a function (params) => strings',
                })
                .min(1, { error: 'fanOut.children must name at least one child' }),
              z.custom<(params: RunParams) => readonly string[]>((v) => typeof v === 'function'),
            ],
            { error: 'fanOut.children must be an array of strings or a function (params) => strings' },
          ),
        },
        { error: 'fanOut must be an object like { by: "entityType", children: ["issues", "pulls"] }' },
      )
      .strict()
      .optional(),
    throttle: z
      .object(
        {
          profile: z
            .enum(['background', 'moderate', 'fast'], {
              error: (i) => `throttle.profile must be background, moderate or fast, got ${describe(i.input)}`,
            })
            .optional(),
          batchDelayMs: z
            .number({ error: 'throttle.batchDelayMs must be a number of ms' })
            .min(0, { error: 'throttle.batchDelayMs must be ≥ 0' })
            .max(MAX_BATCH_DELAY_MS, {
              error: (i) => `throttle.batchDelayMs must be at most ${MAX_BATCH_DELAY_MS} (1h), got ${describe(i.input)}`,
            })
            .optional(),
          maxMemoryMb: positiveInt('throttle.maxMemoryMb').optional(),
          maxEventLoopLagMs: positiveInt('throttle.maxEventLoopLagMs')
            .max(MAX_TIMER_MS, {
              error: (i) =>
                `throttle.maxEventLoopLagMs must be at most ${MAX_TIMER_MS} (the longest a timer can wait), got ${describe(i.input)}`,
            })
            .optional(),
          signals: z
            .array(
              z.custom<HealthSignal>(
                (v) =>
                  !!v &&
                  typeof v === 'object' &&
                  typeof (v as HealthSignal).read === 'function' &&
                  typeof (v as HealthSignal).name === 'string',
                {
                  error:
                    'throttle.signals must hold health signals such as postgresHealth(...) or probe(...) (objects with a name and a read() function)',
                },
              ),
            )
            .optional(),
          signalIntervalMs: positiveInt('throttle.signalIntervalMs')
            .max(MAX_TIMER_MS, {
              error: (i) =>
                `throttle.signalIntervalMs must be at most ${MAX_TIMER_MS} (the longest a timer can wait), got ${describe(i.input)}`,
            })
            .optional(),
          adaptive: z
            .union(
              [
                z.boolean(),
                z
                  .object({
                    targetBatchMs: positiveInt('throttle.adaptive.targetBatchMs')
                      .max(MAX_TIMER_MS, {
                        error: (i) =>
                          `throttle.adaptive.targetBatchMs must be at most ${MAX_TIMER_MS} (the longest a timer can wait), got ${describe(i.input)}`,
                      })
                      .optional(),
                    minBatchMs: z
                      .number()
                      .gt(0, { error: 'throttle.adaptive.minBatchMs must be a positive number of ms' })
                      .max(MAX_TIMER_MS, { error: `throttle.adaptive.minBatchMs must be at most ${MAX_TIMER_MS}` })
                      .optional(),
                    minBatchSize: positiveInt('throttle.adaptive.minBatchSize').optional(),
                    maxBatchSize: positiveInt('throttle.adaptive.maxBatchSize').optional(),
                    maxGrowth: z
                      .number()
                      .min(1.2, { error: 'throttle.adaptive.maxGrowth must be between 1.2 and 1.5' })
                      .max(1.5, { error: 'throttle.adaptive.maxGrowth must be between 1.2 and 1.5' })
                      .optional(),
                    minConcurrency: positiveInt('throttle.adaptive.minConcurrency').optional(),
                    probeWindow: positiveInt('throttle.adaptive.probeWindow').optional(),
                    budgetPercentile: z
                      .number()
                      .min(50, { error: 'throttle.adaptive.budgetPercentile must be at least 50 and under 100' })
                      .lt(100, { error: 'throttle.adaptive.budgetPercentile must be at least 50 and under 100' })
                      .optional(),
                    budgetDecrease: z
                      .number()
                      .min(0.3, { error: 'throttle.adaptive.budgetDecrease must be between 0.3 and 0.9' })
                      .max(0.9, { error: 'throttle.adaptive.budgetDecrease must be between 0.3 and 0.9' })
                      .optional(),
                    minShare: z
                      .number()
                      .gt(0, { error: 'throttle.adaptive.minShare must be above 0 and at most 1' })
                      .max(1, { error: 'throttle.adaptive.minShare must be above 0 and at most 1' })
                      .optional(),
                    startShare: z
                      .number()
                      .gt(0, { error: 'throttle.adaptive.startShare must be above 0 and at most 1' })
                      .max(1, { error: 'throttle.adaptive.startShare must be above 0 and at most 1' })
                      .optional(),
                  })
                  .strict()
                  .superRefine((adaptive, ctx) => {
                    // Bounds that only make sense together, checked here rather than when the run starts.
                    // The defaults are the controller's (startShare 0.5, minShare 0.02).
                    const minShare = adaptive.minShare ?? 0.02;
                    const startShare = adaptive.startShare ?? 0.5;
                    if (startShare < minShare) {
                      ctx.addIssue({
                        code: 'custom',
                        path: ['startShare'],
                        message: `throttle.adaptive.startShare (${startShare}) must be at least minShare (${minShare}): the controller never goes below minShare`,
                      });
                    }
                    if (
                      adaptive.minBatchSize !== undefined &&
                      adaptive.maxBatchSize !== undefined &&
                      adaptive.minBatchSize > adaptive.maxBatchSize
                    ) {
                      ctx.addIssue({
                        code: 'custom',
                        path: ['minBatchSize'],
                        message: `throttle.adaptive.minBatchSize (${adaptive.minBatchSize}) must be at most maxBatchSize (${adaptive.maxBatchSize})`,
                      });
                    }
                  }),
              ],
              { error: 'throttle.adaptive must be true or an object like { targetBatchMs: 1000 }' },
            )
            .optional(),
          schedule: z
            .custom<ScheduleInput>((v) => !!v && typeof v === 'object', {
              error:
                'throttle.schedule must be an object like { timeZone: "UTC", windows: [{ from: "02:00", to: "06:00", profile: "fast" }], otherwise: "background" }',
            })
            .optional(),
        },
        { error: 'throttle must be an object like { profile: "background", maxMemoryMb: 512 }' },
      )
      .strict()
      .optional(),
    verify: z
      .array(
        z.custom<VerifyCheck>(
          (v) =>
            !!v && typeof v === 'object' && typeof (v as VerifyCheck).name === 'string' && typeof (v as VerifyCheck).run === 'function',
          {
            error: 'verify must hold checks such as parity(...), uniqueness(...), coverage(...) or { name, run(ctx) }',
          },
        ),
        { error: 'verify must be an array of checks' },
      )
      .optional(),
    slo: z
      .custom<SloConfigInput>((v) => !!v && typeof v === 'object', {
        error:
          'slo must be an object like { objectives: [{ name: "latency", sli: { kind: "batch-duration", thresholdSeconds: 300 }, objective: 0.95 }] }',
      })
      .optional(),
  })
  .strict();

/**
 * Validates a backfill definition and fills in its defaults. Throws `ConfigError` naming the bad option.
 * With `delivery: 'transactional'` written in the call, `process` gets `ctx.tx` typed as present.
 */
export function defineBackfill<Item>(
  input: BackfillDefinitionInput<Item, 'transactional'> & { delivery: 'transactional' },
): BackfillDefinition<Item>;
export function defineBackfill<Item>(input: BackfillDefinitionInput<Item, 'at-least-once' | 'idempotent'>): BackfillDefinition<Item>;
/** A delivery mode known only at run time (a `DeliveryMode` variable): `ctx.tx` may be absent. */
export function defineBackfill<Item>(input: BackfillDefinitionInput<Item>): BackfillDefinition<Item>;
export function defineBackfill<Item>(input: BackfillDefinitionInput<Item>): BackfillDefinition<Item> {
  const label = typeof (input as { name?: unknown })?.name === 'string' ? `defineBackfill("${input.name}")` : 'defineBackfill()';
  if (input === null || typeof input !== 'object') throw new ConfigError(`${label}: expected an options object`);
  const parsed = definitionSchema.safeParse(input);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    const message = first.code === 'unrecognized_keys' ? `unknown option ${first.keys.map((k) => `"${k}"`).join(', ')}` : first.message;
    throw new ConfigError(`${label}: ${message}`);
  }
  const key = input.key ?? input.source.defaultKey;
  if (!key) {
    throw new ConfigError(`${label}: key is required: its source (${input.source.kind}) has no key of its own`, {
      hint: 'add key: (item) => item.id (a value that identifies the item and never changes between runs)',
    });
  }
  const delivery = input.delivery ?? 'at-least-once';
  if (input.checkpointEvery !== undefined && delivery !== 'idempotent') {
    throw new ConfigError(
      `${label}: checkpointEvery is only for delivery: 'idempotent' (the other modes write the checkpoint with every batch)`,
    );
  }
  return Object.freeze({
    name: input.name,
    description: input.description ?? '',
    source: input.source,
    key,
    process: input.process,
    delivery,
    checkpointEvery:
      delivery === 'idempotent'
        ? Object.freeze({ ...DEFAULT_CHECKPOINT_EVERY, ...stripUndefined(input.checkpointEvery ?? {}) })
        : undefined,
    dedup: input.dedup ?? delivery === 'at-least-once',
    ledgerNamespace: input.ledgerNamespace ?? input.name,
    batchSize: input.batchSize ?? DEFAULT_BATCH_SIZE,
    concurrency: input.concurrency ?? 1,
    retry: { ...DEFAULT_RETRY, ...stripUndefined(input.retry ?? {}) },
    maxFailureRatio: input.maxFailureRatio ?? DEFAULT_MAX_FAILURE_RATIO,
    concurrencyKeys: Object.freeze({ ...(input.concurrencyKeys ?? {}) }),
    maxRunningPartitions: input.maxRunningPartitions,
    fanOut: input.fanOut,
    throttle: Object.freeze({
      profile: input.throttle?.profile,
      knobs: stripUndefined({
        batchSize: input.batchSize,
        concurrency: input.concurrency,
        batchDelayMs: input.throttle?.batchDelayMs,
        maxMemoryMb: input.throttle?.maxMemoryMb,
        maxEventLoopLagMs: input.throttle?.maxEventLoopLagMs,
      }),
      signals: [...(input.throttle?.signals ?? [])],
      signalIntervalMs: input.throttle?.signalIntervalMs ?? 1000,
      adaptive: input.throttle?.adaptive === true ? {} : input.throttle?.adaptive || undefined,
      schedule: input.throttle?.schedule
        ? withLabel(label, 'throttle.', () => parseSchedule(input.throttle!.schedule!, PROFILE_NAMES))
        : undefined,
    }),
    slo: input.slo ? withLabel(label, '', () => parseSloConfig(input.slo!)) : undefined,
    verify: Object.freeze([...(input.verify ?? [])]),
  });
}

/** Runs `parse`, prefixing the definition's name to the ConfigError it throws. */
function withLabel<T>(label: string, prefix: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${label}: ${prefix}${error.message}`);
    throw error;
  }
}

function isSource(value: unknown): boolean {
  return (
    !!value &&
    typeof value === 'object' &&
    typeof (value as { open?: unknown }).open === 'function' &&
    typeof (value as { kind?: unknown }).kind === 'string'
  );
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return typeof value;
}
