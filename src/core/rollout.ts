import type { Counts } from './counts.js';
import type { ClaimScope } from './store.js';
import type { RolloutSettings, RunOptions } from './run.js';
import type { StartOptions } from './run-handle.js';

/**
 * The rollout limits of a whole run, over every lane of every worker, which the store keeps and
 * enforces: a canary's budget of items and a gradual rollout's budget of lanes.
 */

/** A run without a canary or a gradual rollout. */
export const NO_ROLLOUT: RolloutSettings = { canaryItems: null, gradual: null };

/** The run's options with its rollout's: kept with the run, so that status and every worker see them. */
export function withRollout(options: RunOptions, rollout: RolloutSettings): RunOptions {
  const { maxItems: _maxItems, gradual: _gradual, ...rest } = options;
  return {
    ...rest,
    ...(rollout.canaryItems !== null ? { maxItems: rollout.canaryItems } : {}),
    ...(rollout.gradual ? { gradual: rollout.gradual } : {}),
  };
}

/**
 * What a batch takes from a canary's budget: every item it read except those the ledger skipped.
 * A canary of N items sends N items to `process` (processed, or quarantined when they fail, which
 * is what a canary is for); items an earlier run already delivered cost nothing, since the target
 * sees nothing of them. Malformed records count like quarantined items: the canary found them.
 */
export function canaryUse(delta: Counts): number {
  return delta.received - delta.skipped;
}

/** Why a run paused when its canary's budget was spent. */
export function canaryDoneReason(items: number): string {
  return `canary: stopped after ${items} items; check them (the run's report), then resume for the rest`;
}

/** Why a claim waits for a gradual rollout's ramp. */
export function rampLimitReason(held: number, lanes: number): string {
  return `gradual rollout: the run holds ${held} lane${held === 1 ? '' : 's'}, all its ramp allows for now (${lanes})`;
}

/**
 * How a claim at a full ramp may still take a lane: by taking over a partition whose lease
 * expired, which moves its fence, so the lane changes hands instead of a new one opening. An
 * expired lease still counts against the ramp because its holder may only be late (a slow
 * heartbeat under load): its next checkpoint or renewal would revive it, and a new partition
 * claimed in the meantime would put the run one lane over its ramp.
 */
export function rampTakeover(scope: ClaimScope): ClaimScope {
  return { ...scope, orphansOnly: true };
}

/** The rollout a start, resume or retry asks for: none lifts the run's earlier canary and ramp. */
export function rolloutOf(options: Pick<StartOptions, 'maxItems' | 'gradual'>): RolloutSettings {
  return {
    canaryItems: options.maxItems ?? null,
    gradual: options.gradual ? (options.gradual === true ? {} : options.gradual) : null,
  };
}
