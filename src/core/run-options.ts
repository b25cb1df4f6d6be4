import type { BackfillDefinition } from './definition.js';
import { runLimitsOf } from './concurrency.js';
import type { RunOptions } from './run.js';
import type { StartOptions } from './run-handle.js';
import { rolloutOf } from './rollout.js';
import { pick } from './start-options.js';
import { type KnobLayer, type Knobs, knobsOf, type ResolvedKnobs, resolveKnobs } from './throttle/knobs.js';

/**
 * The run's options and throttle knobs: for a new run, the definition's (its profile, then its
 * explicit knobs), then this call's layers (environment, flags); for a stored run, what it was
 * created or last retuned with, then this call's layers.
 */
export function resolveRunOptions(
  definition: BackfillDefinition<unknown>,
  options: StartOptions,
  stored?: RunOptions,
): { runOptions: RunOptions; knobs: ResolvedKnobs } {
  const limits = runLimitsOf(definition);
  const layers: KnobLayer[] = [];
  let base: Knobs;
  if (stored) {
    base = knobsOf(stored);
  } else {
    base = { batchSize: definition.batchSize, concurrency: definition.concurrency, batchDelayMs: 0 };
    layers.push({
      source: 'definition',
      ...(definition.throttle.profile ? { profile: definition.throttle.profile } : {}),
      knobs: definition.throttle.knobs,
    });
  }
  layers.push(...(options.throttleLayers ?? []));
  const api: Partial<Knobs> = pick(options, ['batchSize', 'concurrency', 'batchDelayMs', 'maxMemoryMb', 'maxEventLoopLagMs']);
  if (options.profile || Object.keys(api).length > 0)
    layers.push({
      source: options.actor ? `options of ${options.actor}` : 'options',
      ...(options.profile ? { profile: options.profile } : {}),
      knobs: api,
    });
  const knobs = resolveKnobs(base, layers);
  if (stored) {
    // A stored value the definition would give anyway keeps the definition's label.
    const fromDefinition = resolveKnobs({ batchSize: definition.batchSize, concurrency: definition.concurrency, batchDelayMs: 0 }, [
      {
        source: 'definition',
        ...(definition.throttle.profile ? { profile: definition.throttle.profile } : {}),
        knobs: definition.throttle.knobs,
      },
    ]);
    for (const name of Object.keys(base) as Array<keyof Knobs>) {
      knobs.sources[name] ??= fromDefinition.knobs[name] === base[name] ? fromDefinition.sources[name] : 'the run (as created or retuned)';
    }
  }
  const k = knobs.knobs;
  // A run's canary and ramp are the store's (see rollout.ts); its options mirror them for every worker.
  const maxItems = options.maxItems ?? stored?.maxItems;
  const gradual = options.gradual ? rolloutOf(options).gradual : stored?.gradual;
  const runOptions: RunOptions = {
    batchSize: k.batchSize,
    concurrency: k.concurrency,
    maxFailureRatio: stored?.maxFailureRatio ?? definition.maxFailureRatio,
    retry: stored?.retry ?? definition.retry,
    ...((stored ? stored.limits : limits) ? { limits: (stored ? stored.limits : limits)! } : {}),
    ...(options.maxBatches !== undefined ? { maxBatches: options.maxBatches } : {}),
    ...(maxItems !== undefined ? { maxItems } : {}),
    ...(gradual ? { gradual } : {}),
    // Fixed when the run is created: a resumed reprocess-all run goes on reprocessing.
    ...((stored ? stored.reprocess : options.reprocess) === 'all' ? { reprocess: 'all' as const } : {}),
    batchDelayMs: k.batchDelayMs,
    ...(k.maxMemoryMb !== undefined ? { maxMemoryMb: k.maxMemoryMb } : {}),
    ...(k.maxEventLoopLagMs !== undefined ? { maxEventLoopLagMs: k.maxEventLoopLagMs } : {}),
    ...((knobs.profile ?? stored?.profile) ? { profile: (knobs.profile ?? stored?.profile)! } : {}),
  };
  return { runOptions, knobs };
}
