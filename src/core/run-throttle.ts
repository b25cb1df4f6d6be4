import type { Clock } from './clock.js';
import type { BackfillDefinition } from './definition.js';
import type { Logger } from './logger.js';
import type { GradualOptions, RunRecord, WorkerIdentity } from './run.js';
import type { RolloutBudgets, RunStore, SloAlerts } from './store.js';
import { EventLoopLag } from './throttle/event-loop-lag.js';
import type { ResolvedKnobs } from './throttle/knobs.js';
import { Throttle } from './throttle/throttle.js';

/** What an execution's throttle needs from the engine: where it records, whose decisions they are, and what it reads. */
export interface ThrottleDeps {
  /** The run's ramp (read and moved), the backfill's alerts, and the decisions' record. */
  store: RunStore & RolloutBudgets & SloAlerts;
  worker: WorkerIdentity;
  clock: Clock;
  logger: Logger;
  memoryReader?: (() => { rss: number; heapUsed: number }) | undefined;
}

/**
 * The throttle of one execution: its knobs, the definition's signals, decisions recorded with
 * the run, and a gradual rollout's ramp, which is the run's (in the store), not this process's.
 */
export function throttleOf(
  deps: ThrottleDeps,
  definition: BackfillDefinition<unknown>,
  run: RunRecord,
  knobs: ResolvedKnobs,
  gradual?: GradualOptions,
): Throttle {
  const { store, worker, clock, logger, memoryReader } = deps;
  const runId = run.id;
  return new Throttle({
    ...(gradual
      ? {
          gradual: {
            ...gradual,
            ramp: {
              lanes: run.rampLanes ?? 1,
              read: async () => (await store.getRun(runId))?.rampLanes ?? null,
              move: (from, to, decision) => store.moveRamp(runId, { from, to, decision: { worker: worker.id, ...decision } }),
            },
            // A fast burn of the backfill's SLOs (a page alert firing, as the evaluator stored it) breaks the gate.
            pageAlert: async () => {
              const firing = (await store.listAlerts(definition.name)).find((a) => a.state === 'firing' && a.severity === 'page');
              return firing ? `${firing.slo}/${firing.tier}: ${firing.summary}` : undefined;
            },
          },
        }
      : {}),
    knobs,
    signals: definition.throttle.signals,
    signalIntervalMs: definition.throttle.signalIntervalMs,
    ...(definition.throttle.adaptive ? { adaptive: { maxConcurrency: knobs.knobs.concurrency, ...definition.throttle.adaptive } } : {}),
    ...(definition.throttle.schedule ? { schedule: definition.throttle.schedule } : {}),
    clock: clock,
    logger: logger,
    ...(memoryReader ? { memory: { read: memoryReader } } : {}),
    ...(knobs.knobs.maxEventLoopLagMs !== undefined ? { lag: new EventLoopLag(knobs.knobs.maxEventLoopLagMs, () => clock.now()) } : {}),
    record: (decision) => store.recordDecision(runId, { worker: worker.id, ...decision }),
  });
}
