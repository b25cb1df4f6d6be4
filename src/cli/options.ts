import { UsageError } from '../core/errors.js';
import { parseSince } from '../core/since.js';

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
}

export interface RunFlags {
  batchSize?: number;
  concurrency?: number;
  maxBatches?: number;
  since?: string;
  dryRun?: boolean;
}

/** Validates run flags at the edge, before anything is opened or written. */
export function parseRunFlags(raw: RawRunFlags, now = Date.now()): RunFlags {
  const flags: RunFlags = {
    batchSize: positiveInteger('--batch-size', raw.batchSize, 100_000),
    concurrency: positiveInteger('--concurrency', raw.concurrency, 256),
    maxBatches: positiveInteger('--max-batches', raw.maxBatches),
    dryRun: raw.dryRun === true,
  };
  if (raw.since !== undefined) {
    parseSince(raw.since, now); // throws a UsageError naming the accepted forms
    flags.since = raw.since;
  }
  return flags;
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

const VALUE_FLAGS = new Set(['--batch-size', '--concurrency', '--max-batches', '--rows', '--limit', '--since', '--id']);

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
