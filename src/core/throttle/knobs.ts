import { UsageError } from '../errors.js';
import type { RunOptions } from '../run.js';

/**
 * The static throttle knobs of a run and where each value came from, so that the effective
 * configuration printed at start (and shown by `sluice status`) says why it is what it is.
 *
 * Layers apply in order, later ones winning: the definition, the environment, the command line,
 * then live retunes. Inside a layer a profile fills in every knob first, and the knobs the layer
 * sets explicitly override it.
 */
export const PROFILES = {
  /** Seed 002's "don't bother anyone": small batches, a pause between them, one at a time. */
  background: { batchSize: 100, batchDelayMs: 1000, concurrency: 1 },
  moderate: { batchSize: 500, batchDelayMs: 200, concurrency: 2 },
  /** Off-peak: big batches back to back, several at once. */
  fast: { batchSize: 2000, batchDelayMs: 0, concurrency: 8 },
} as const;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export interface Knobs {
  batchSize: number;
  /** Pause after each batch of a lane, before the next one. */
  batchDelayMs: number;
  concurrency: number;
  /** Memory limit (MB of RSS) above which lanes wait; undefined: no limit. */
  maxMemoryMb?: number;
  /** Yield to the event loop between batches when its lag exceeds this (for hosts that serve requests). */
  maxEventLoopLagMs?: number;
}

/** One layer's settings: a profile and/or explicit knobs. */
export interface KnobLayer {
  /** Where these settings come from, e.g. `definition`, `SLUICE_BATCH_SIZE`, `--batch-size`, `retune by alice`. */
  source: string;
  profile?: ProfileName;
  knobs: Partial<Knobs>;
  /** Where each explicit knob came from when they differ within the layer (environment variables). */
  knobSources?: Partial<Record<keyof Knobs, string>>;
}

export interface ResolvedKnobs {
  knobs: Knobs;
  /** The profile of the last layer that named one. */
  profile: ProfileName | undefined;
  /** For every knob set, the layer (or variable) that set it. */
  sources: Partial<Record<keyof Knobs, string>>;
}

export function isProfileName(value: unknown): value is ProfileName {
  return typeof value === 'string' && (PROFILE_NAMES as string[]).includes(value);
}

/** `value` as a throttle profile's name (background, moderate, fast); a UsageError naming `what` otherwise. */
export function parseProfile(value: string, what: string): ProfileName {
  if (!isProfileName(value)) throw new UsageError(`${what} must be one of ${PROFILE_NAMES.join(', ')}, got "${value}"`);
  return value;
}

/** Applies the layers over `base` (the definition's defaults). */
export function resolveKnobs(base: Knobs, layers: readonly KnobLayer[]): ResolvedKnobs {
  const knobs: Knobs = { ...base };
  const sources: ResolvedKnobs['sources'] = {};
  let profile: ProfileName | undefined;
  for (const layer of layers) {
    if (layer.profile) {
      profile = layer.profile;
      for (const [name, value] of Object.entries(PROFILES[layer.profile]) as Array<[keyof Knobs, number]>) {
        knobs[name] = value;
        sources[name] = `profile ${layer.profile} (${layer.source})`;
      }
    }
    for (const [name, value] of Object.entries(layer.knobs) as Array<[keyof Knobs, number | undefined]>) {
      if (value === undefined) continue;
      knobs[name] = value;
      sources[name] = layer.knobSources?.[name] ?? layer.source;
    }
  }
  return { knobs, profile, sources };
}

/** `batch size 500 (definition) · delay 200 ms (profile moderate, SLUICE_PROFILE) · …`: the line printed at start. */
export function describeKnobs(resolved: ResolvedKnobs): string {
  const { knobs, sources } = resolved;
  const from = (name: keyof Knobs) => (sources[name] ? ` (${sources[name]})` : ' (default)');
  const parts = [
    `batch size ${knobs.batchSize}${from('batchSize')}`,
    `delay ${knobs.batchDelayMs} ms${from('batchDelayMs')}`,
    `concurrency ${knobs.concurrency}${from('concurrency')}`,
    knobs.maxMemoryMb === undefined ? 'no memory limit' : `memory limit ${knobs.maxMemoryMb} MB${from('maxMemoryMb')}`,
  ];
  if (knobs.maxEventLoopLagMs !== undefined) parts.push(`event-loop lag limit ${knobs.maxEventLoopLagMs} ms${from('maxEventLoopLagMs')}`);
  return parts.join(' · ');
}

const LABELS: Record<keyof Knobs, [string, string]> = {
  batchSize: ['batch size', ''],
  batchDelayMs: ['delay', ' ms'],
  concurrency: ['concurrency', ''],
  maxMemoryMb: ['memory limit', ' MB'],
  maxEventLoopLagMs: ['event-loop lag limit', ' ms'],
};

/** What a retune changed, e.g. `batch size 200 → 50, delay 0 → 250 ms`; empty when nothing did. */
export function describeChanges(before: Knobs, after: Knobs): string {
  return (Object.keys(LABELS) as Array<keyof Knobs>)
    .filter((name) => before[name] !== after[name])
    .map((name) => `${LABELS[name][0]} ${before[name] ?? 'none'} → ${after[name] ?? 'none'}${LABELS[name][1]}`)
    .join(', ');
}

/** The knobs a run's stored options hold (what executions and retunes start from). */
export function knobsOf(options: RunOptions): Knobs {
  return {
    batchSize: options.batchSize,
    concurrency: options.concurrency,
    batchDelayMs: options.batchDelayMs ?? 0,
    ...(options.maxMemoryMb !== undefined ? { maxMemoryMb: options.maxMemoryMb } : {}),
    ...(options.maxEventLoopLagMs !== undefined ? { maxEventLoopLagMs: options.maxEventLoopLagMs } : {}),
  };
}
