import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseDuration } from './duration.js';

/**
 * Service level objectives of a backfill (seed 000: p95 batch duration under 300 s; seed 003:
 * burn-rate alerts on latency and errors) and where their alerts go. The same objects drive the
 * in-process evaluator, `sluice slo rules` and `sluice slo dashboard`.
 */
export interface SloConfigInput {
  objectives: SloInput[];
  /** Where firing and resolved alerts are POSTed (JSON, signed with HMAC-SHA256 when a secret is set). */
  webhooks?: WebhookInput[];
  /** Pause the backfill's running runs while a `page` alert fires (a fast burn). Default false. */
  pauseOnPage?: boolean;
  /** How often the evaluator reads the store (ms). Default 30000. */
  evaluateEveryMs?: number;
}

export interface SloInput {
  /** Letters, digits, `_`, `-`: names the recording rules and alerts. */
  name: string;
  description?: string;
  /**
   * `batch-duration`: a batch (read to committed checkpoint) is good when it takes at most
   * `thresholdSeconds` (which becomes a histogram bucket). `error-ratio`: an item is bad when it
   * ends in quarantine.
   */
  sli: { kind: 'batch-duration'; thresholdSeconds: number } | { kind: 'error-ratio' };
  /** The fraction of good events aimed at, e.g. 0.95 ("p95 under the threshold") or 0.99. */
  objective: number;
  /** The error budget's period, e.g. `28d`. Default `28d`. */
  period?: string;
  /** Burn-rate alert tiers. Default: 14.4× over 1h/5m and 6× over 6h/30m (page), 1× over 3d/6h (ticket). */
  tiers?: TierInput[];
}

export interface TierInput {
  name: string;
  severity: 'page' | 'ticket';
  /** How many times faster than sustainable the budget burns. */
  burnRate: number;
  /** The window the burn rate is averaged over. */
  longWindow: string;
  /** A second, shorter window that must burn too (so that the alert resolves soon after the burn stops). Omit for a single window (seed 003). */
  shortWindow?: string;
  /** How long the condition must hold before the alert fires (pending until then). Default `0s`. */
  for?: string;
}

export interface WebhookInput {
  url: string;
  /** HMAC-SHA256 key for the `X-Sluice-Signature` header; or name an environment variable with `secretEnv`. */
  secret?: string;
  secretEnv?: string;
  /** Attempts per notification (with exponential backoff, by whichever evaluator comes next) before it is given up and logged. Default 5. */
  attempts?: number;
  /** How long one attempt may take before it counts as failed, e.g. `"10s"` (the default). At most `"5m"`. */
  timeout?: string;
}

export type Severity = 'page' | 'ticket';

export interface Tier {
  readonly name: string;
  readonly severity: Severity;
  readonly burnRate: number;
  readonly longWindowMs: number;
  readonly shortWindowMs: number | undefined;
  readonly forMs: number;
}

export interface Slo {
  readonly name: string;
  readonly description: string;
  readonly sli: { readonly kind: 'batch-duration'; readonly thresholdSeconds: number } | { readonly kind: 'error-ratio' };
  readonly objective: number;
  readonly periodMs: number;
  readonly tiers: readonly Tier[];
}

export interface Webhook {
  readonly url: string;
  /** The signing secret, given inline. */
  readonly secret: string | undefined;
  /** …or the environment variable holding it, read when a notification is sent (not when the config loads). */
  readonly secretEnv: string | undefined;
  readonly attempts: number;
  /** One attempt's time limit. */
  readonly timeoutMs: number;
}

export interface SloConfig {
  readonly objectives: readonly Slo[];
  readonly webhooks: readonly Webhook[];
  readonly pauseOnPage: boolean;
  readonly evaluateEveryMs: number;
}

/** The multi-window, multi-burn-rate defaults of the SRE workbook. */
export const DEFAULT_TIERS: readonly TierInput[] = [
  { name: 'fast-burn', severity: 'page', burnRate: 14.4, longWindow: '1h', shortWindow: '5m' },
  { name: 'medium-burn', severity: 'page', burnRate: 6, longWindow: '6h', shortWindow: '30m' },
  { name: 'slow-burn', severity: 'ticket', burnRate: 1, longWindow: '3d', shortWindow: '6h' },
];

/** An attempt's claim lasts twice its timeout: a longer one would keep a dead evaluator's notification waiting as long. */
const MAX_WEBHOOK_TIMEOUT_MS = 300_000;

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const name = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(NAME, { error: (i) => `${what} must be letters, digits, "_" or "-" starting with a letter, got ${JSON.stringify(i.input)}` });
const duration = (what: string) => z.string({ error: `${what} must be a duration like "5m"` });

const tierSchema = z
  .object({
    name: name('tier name'),
    severity: z.enum(['page', 'ticket'], { error: (i) => `tier severity must be "page" or "ticket", got ${JSON.stringify(i.input)}` }),
    burnRate: z.number({ error: 'tier burnRate must be a number' }).positive({ error: 'tier burnRate must be > 0' }),
    longWindow: duration('tier longWindow'),
    shortWindow: duration('tier shortWindow').optional(),
    for: duration('tier for').optional(),
  })
  .strict();

const sloSchema = z
  .object({
    name: name('objective name'),
    description: z.string().optional(),
    sli: z.discriminatedUnion(
      'kind',
      [
        z
          .object({
            kind: z.literal('batch-duration'),
            thresholdSeconds: z
              .number({ error: 'sli.thresholdSeconds must be a number of seconds' })
              .positive({ error: 'sli.thresholdSeconds must be > 0' }),
          })
          .strict(),
        z.object({ kind: z.literal('error-ratio') }).strict(),
      ],
      { error: 'sli must be { kind: "batch-duration", thresholdSeconds: 300 } or { kind: "error-ratio" }' },
    ),
    objective: z
      .number({ error: 'objective must be a number like 0.95' })
      .gt(0, { error: 'objective must be between 0 and 1 (exclusive), e.g. 0.95' })
      .lt(1, { error: 'objective must be between 0 and 1 (exclusive), e.g. 0.95' }),
    period: duration('period').optional(),
    tiers: z.array(tierSchema).min(1, { error: 'tiers must hold at least one tier (or be left out for the defaults)' }).optional(),
  })
  .strict();

const configSchema = z
  .object(
    {
      objectives: z
        .array(sloSchema, { error: 'slo.objectives must be an array' })
        .min(1, { error: 'slo.objectives must hold at least one objective' }),
      webhooks: z
        .array(
          z
            .object({
              url: z.url({ protocol: /^https?$/, error: (i) => `webhook url must be an http(s) URL, got ${JSON.stringify(i.input)}` }),
              secret: z.string().min(1).optional(),
              secretEnv: z
                .string()
                .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'webhook secretEnv must name an environment variable' })
                .optional(),
              attempts: z.number().int().min(1).max(20).optional(),
              timeout: duration('webhook timeout').optional(),
            })
            .strict(),
        )
        .optional(),
      pauseOnPage: z.boolean({ error: 'slo.pauseOnPage must be true or false' }).optional(),
      evaluateEveryMs: z.number().int().min(100, { error: 'slo.evaluateEveryMs must be at least 100' }).optional(),
    },
    { error: 'slo must be an object like { objectives: [{ name, sli, objective }] }' },
  )
  .strict();

/** Validates an SLO configuration and fills in the defaults. Throws `ConfigError` naming what is wrong. */
export function parseSloConfig(input: SloConfigInput): SloConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `slo.${issue.path.join('.')}: ` : 'slo: ';
    throw new ConfigError(
      issue.code === 'unrecognized_keys'
        ? `${where}unknown option ${issue.keys.map((k) => `"${k}"`).join(', ')}`
        : `${where}${issue.message}`,
    );
  }
  const value = parsed.data;
  const names = new Set<string>();
  const objectives = value.objectives.map((o): Slo => {
    if (names.has(o.name)) throw new ConfigError(`slo: two objectives are named "${o.name}"`);
    names.add(o.name);
    const tierNames = new Set<string>();
    const tiers = (o.tiers ?? DEFAULT_TIERS).map((t): Tier => {
      if (tierNames.has(t.name)) throw new ConfigError(`slo ${o.name}: two tiers are named "${t.name}"`);
      tierNames.add(t.name);
      const longWindowMs = parseDuration(t.longWindow, `slo ${o.name} tier ${t.name} longWindow`);
      const shortWindowMs =
        t.shortWindow === undefined ? undefined : parseDuration(t.shortWindow, `slo ${o.name} tier ${t.name} shortWindow`);
      if (shortWindowMs !== undefined && shortWindowMs >= longWindowMs) {
        throw new ConfigError(
          `slo ${o.name} tier ${t.name}: shortWindow (${t.shortWindow}) must be shorter than longWindow (${t.longWindow})`,
        );
      }
      const forMs = t.for === undefined || t.for === '0s' ? 0 : parseDuration(t.for, `slo ${o.name} tier ${t.name} for`);
      return Object.freeze({ name: t.name, severity: t.severity, burnRate: t.burnRate, longWindowMs, shortWindowMs, forMs });
    });
    return Object.freeze({
      name: o.name,
      description: o.description ?? '',
      sli: Object.freeze({ ...o.sli }),
      objective: o.objective,
      periodMs: parseDuration(o.period ?? '28d', `slo ${o.name} period`),
      tiers: Object.freeze(tiers),
    });
  });
  const urls = new Set<string>();
  const webhooks = (value.webhooks ?? []).map((w): Webhook => {
    if (w.secret !== undefined && w.secretEnv !== undefined)
      throw new ConfigError(`slo webhook ${w.url}: give secret or secretEnv, not both`);
    // A notification is kept once per URL: the same URL twice would be one receiver notified twice.
    if (urls.has(w.url)) throw new ConfigError(`slo webhook ${w.url} is listed twice; list each URL once`);
    urls.add(w.url);
    const timeoutMs = w.timeout === undefined ? 10_000 : parseDuration(w.timeout, `slo webhook ${w.url} timeout`);
    if (timeoutMs > MAX_WEBHOOK_TIMEOUT_MS)
      throw new ConfigError(`slo webhook ${w.url}: timeout must be at most "5m", got ${JSON.stringify(w.timeout)}`);
    return Object.freeze({ url: w.url, secret: w.secret, secretEnv: w.secretEnv, attempts: w.attempts ?? 5, timeoutMs });
  });
  return Object.freeze({
    objectives: Object.freeze(objectives),
    webhooks: Object.freeze(webhooks),
    pauseOnPage: value.pauseOnPage ?? false,
    evaluateEveryMs: value.evaluateEveryMs ?? 30_000,
  });
}

/** The fraction of events the objective allows to be bad. */
export function errorBudget(slo: Slo): number {
  return 1 - slo.objective;
}
