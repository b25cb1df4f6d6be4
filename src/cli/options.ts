import {
  type KnobLayer,
  type Knobs,
  MAX_BATCH_DELAY_MS,
  parseDuration,
  parseProfile,
  parseSince,
  type ProfileName,
  UsageError,
} from '../index.js';

/** Parses a flag that must be a positive integer, with a one-line error naming the flag. */
export function positiveInteger(flag: string, value: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0) {
    throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  }
  const n = Number(value);
  if (n > max) throw new UsageError(`${flag} must be at most ${max}, got "${value}"`);
  return n;
}

/** Options shared by run, resume, retry and demo, as commander hands them over (strings). */
export interface RawRunFlags {
  batchSize?: string;
  concurrency?: string;
  maxBatches?: string;
  since?: string;
  dryRun?: boolean;
  profile?: string;
  batchDelay?: string;
  maxMemory?: string;
  canary?: string;
  gradual?: boolean;
  sample?: string;
  sampleSize?: string;
  /** False with `--no-follow` (run, resume, retry). */
  follow?: boolean;
}

export interface RunFlags {
  maxBatches?: number;
  /** `--canary N`: stop (paused, resumable) after N items. */
  maxItems?: number;
  gradual?: boolean;
  /** `--dry-run --sample size-buckets`: items per bucket. */
  sample?: { perBucket: number };
  since?: string;
  dryRun?: boolean;
  /** The environment's knobs, then the flags': what the engine layers over the definition's. */
  throttleLayers: KnobLayer[];
  /** The flags' own knobs (for commands that plan a run themselves, like the demo with workers). */
  knobs: Partial<Knobs>;
  /** `--no-follow`: return once other workers hold what is left of the run, instead of following it to its end. */
  follow?: false;
}

/** Validates run flags at the edge, before anything is opened or written. */
export function parseRunFlags(raw: RawRunFlags, now = Date.now(), env: NodeJS.ProcessEnv = process.env): RunFlags {
  const knobs = parseKnobFlags(raw);
  const profile = raw.profile === undefined ? undefined : parseProfile(raw.profile, '--profile');
  const flags: RunFlags = {
    maxBatches: positiveInteger('--max-batches', raw.maxBatches),
    ...(raw.canary !== undefined ? { maxItems: positiveInteger('--canary', raw.canary) } : {}),
    ...(raw.gradual ? { gradual: true } : {}),
    ...(raw.follow === false ? { follow: false as const } : {}),
    dryRun: raw.dryRun === true,
    knobs,
    throttleLayers: [
      envLayer(env),
      { source: 'command line', ...(profile ? { profile } : {}), knobs, knobSources: flagSources(knobs) },
    ].filter((l) => l.profile || Object.keys(l.knobs).length > 0),
  };
  if (raw.sample !== undefined) {
    if (raw.sample !== 'size-buckets') throw new UsageError(`--sample must be size-buckets, got "${raw.sample}"`);
    if (!raw.dryRun) throw new UsageError('--sample picks items for a dry run: add --dry-run');
    flags.sample = { perBucket: positiveInteger('--sample-size', raw.sampleSize, 1000) ?? 10 };
  } else if (raw.sampleSize !== undefined) {
    throw new UsageError('--sample-size goes with --dry-run --sample size-buckets');
  }
  if (flags.maxItems !== undefined && flags.dryRun)
    throw new UsageError('--canary runs a real slice of the backfill; for a dry run use --dry-run --sample size-buckets');
  if (raw.since !== undefined) {
    parseSince(raw.since, now); // throws a UsageError naming the accepted forms
    flags.since = raw.since;
  }
  return flags;
}

/** `--batch-size`, `--concurrency`, `--batch-delay`, `--max-memory` (run, demo, retune). */
export function parseKnobFlags(raw: Pick<RawRunFlags, 'batchSize' | 'concurrency' | 'batchDelay' | 'maxMemory'>): Partial<Knobs> {
  const knobs: Partial<Knobs> = {};
  const batchSize = positiveInteger('--batch-size', raw.batchSize, 100_000);
  const concurrency = positiveInteger('--concurrency', raw.concurrency, 256);
  const maxMemoryMb = positiveInteger('--max-memory', raw.maxMemory, 1_048_576);
  if (batchSize !== undefined) knobs.batchSize = batchSize;
  if (concurrency !== undefined) knobs.concurrency = concurrency;
  if (maxMemoryMb !== undefined) knobs.maxMemoryMb = maxMemoryMb;
  if (raw.batchDelay !== undefined) knobs.batchDelayMs = delayMs(raw.batchDelay, '--batch-delay');
  return knobs;
}

const FLAG_NAMES: Record<keyof Knobs, string> = {
  batchSize: '--batch-size',
  concurrency: '--concurrency',
  batchDelayMs: '--batch-delay',
  maxMemoryMb: '--max-memory',
  maxEventLoopLagMs: '--max-lag',
};

function flagSources(knobs: Partial<Knobs>): Partial<Record<keyof Knobs, string>> {
  return Object.fromEntries(Object.keys(knobs).map((k) => [k, FLAG_NAMES[k as keyof Knobs]]));
}

/** `250` (ms) or a duration such as `2s`, `500ms`. */
function delayMs(value: string, what: string): number {
  const ms = /^\d+$/.test(value.trim()) ? Number(value) : parseDuration(value, what);
  return withinBatchDelay(ms, what, value);
}

/** The batch delay's one bound, for a flag and an environment variable alike. */
function withinBatchDelay(ms: number, what: string, value: string): number {
  if (ms > MAX_BATCH_DELAY_MS)
    throw new UsageError(`${what} must be at most 1h (${MAX_BATCH_DELAY_MS} ms), got "${value}"`, {
      hint: 'for a longer stop, pause the run (`sluice pause`) and resume it later',
    });
  return ms;
}

/**
 * The knobs the environment sets: `SLUICE_*`, and seed 002's `BACKFILL_*` names as aliases (a
 * `SLUICE_` variable wins over its alias). A bad value is refused naming the variable.
 */
export function envLayer(env: NodeJS.ProcessEnv): KnobLayer {
  const knobs: Partial<Knobs> = {};
  const knobSources: Partial<Record<keyof Knobs, string>> = {};
  const read = (names: readonly string[]) => {
    for (const name of names) if (env[name] !== undefined && env[name] !== '') return { name, value: env[name]! };
    return undefined;
  };
  const integer = (knob: 'batchSize' | 'concurrency' | 'maxMemoryMb' | 'maxEventLoopLagMs', names: readonly string[], max: number) => {
    const found = read(names);
    if (!found) return;
    knobs[knob] = positiveInteger(found.name, found.value, max)!;
    knobSources[knob] = found.name;
  };
  integer('batchSize', ['SLUICE_BATCH_SIZE', 'BACKFILL_BATCH_SIZE'], 100_000);
  integer('concurrency', ['SLUICE_CONCURRENCY', 'BACKFILL_MAX_CONCURRENT'], 256);
  integer('maxMemoryMb', ['SLUICE_MAX_MEMORY_MB', 'BACKFILL_MAX_MEMORY_MB'], 1_048_576);
  integer('maxEventLoopLagMs', ['SLUICE_MAX_EVENT_LOOP_LAG_MS'], 60_000);
  const delay = read(['SLUICE_BATCH_DELAY_MS', 'BACKFILL_BATCH_DELAY_MS']);
  if (delay) {
    if (!/^\d+$/.test(delay.value.trim())) throw new UsageError(`${delay.name} must be a number of milliseconds, got "${delay.value}"`);
    knobs.batchDelayMs = withinBatchDelay(Number(delay.value), delay.name, delay.value);
    knobSources.batchDelayMs = delay.name;
  }
  // Seed 002's "use idle time": yield to the host between batches whenever its event loop lags.
  const idle = read(['SLUICE_USE_IDLE', 'BACKFILL_USE_IDLE']);
  if (idle && knobs.maxEventLoopLagMs === undefined) {
    if (!/^(1|0|true|false|yes|no)$/i.test(idle.value)) throw new UsageError(`${idle.name} must be true or false, got "${idle.value}"`);
    if (/^(1|true|yes)$/i.test(idle.value)) {
      knobs.maxEventLoopLagMs = 20;
      knobSources.maxEventLoopLagMs = idle.name;
    }
  }
  const profileVar = read(['SLUICE_PROFILE', 'BACKFILL_PROFILE']);
  const profile: ProfileName | undefined = profileVar ? parseProfile(profileVar.value, profileVar.name) : undefined;
  return { source: profileVar ? profileVar.name : 'environment', ...(profile ? { profile } : {}), knobs, knobSources };
}

/** `--param key=value` pairs into an object. */
export function parseParams(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param must look like key=value, got "${pair}"`);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return params;
}

/** `--key name=value` (`sluice cancel --key installationId=42`): a concurrency key and its value. */
export function parseKeyArgument(text: string, flag = '--key'): { name: string; value: string } {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new UsageError(`${flag} must look like name=value (e.g. installationId=42), got "${text}"`);
  return { name: text.slice(0, at), value: text.slice(at + 1) };
}

const VALUE_FLAGS = new Set([
  '--batch-size',
  '--concurrency',
  '--max-batches',
  '--rows',
  '--limit',
  '--since',
  '--id',
  '--batch-delay',
  '--max-memory',
  '--workers',
]);

/**
 * Commander reads `--batch-size -3` as two options. Joining such pairs into `--batch-size=-3`
 * lets the value reach our validation, which then says exactly what is wrong with it.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (VALUE_FLAGS.has(arg) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** `--metrics-port`: 0 (any free port) to 65535. */
export function parsePort(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) > 65_535)
    throw new UsageError(`${flag} must be a port number from 0 (any free port) to 65535, got "${value}"`);
  return Number(value);
}
