import { InvalidTransitionError } from './errors.js';

/**
 * The run state machine:
 *
 *   pending → running ⇄ paused → succeeded | failed | cancelled
 *
 * plus `failed → pending` (retry) and `pending|paused → cancelled`. Every transition is recorded
 * by the store with its time, actor and reason.
 */
export const RUN_STATES = ['pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

const ALLOWED: Record<RunState, readonly RunState[]> = {
  pending: ['running', 'paused', 'cancelled'],
  running: ['paused', 'succeeded', 'failed', 'cancelled'],
  paused: ['running', 'pending', 'cancelled'],
  succeeded: [],
  failed: ['pending'],
  cancelled: [],
};

/** States a run can never leave (except `failed`, which `retry` reopens). */
export const TERMINAL_STATES: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];

/** States of a run that is not finished: a new `sluice run` of the same backfill resumes it. */
export const OPEN_STATES: readonly RunState[] = ['pending', 'running', 'paused'];

export function canTransition(from: RunState, to: RunState): boolean {
  return ALLOWED[from].includes(to);
}

export function assertTransition(runId: string, from: RunState, to: RunState): void {
  if (!canTransition(from, to)) {
    throw new InvalidTransitionError(`run ${runId} is ${from}; it cannot become ${to}`, {
      hint: hintFor(from),
    });
  }
}

function hintFor(from: RunState): string | undefined {
  switch (from) {
    case 'succeeded':
      return 'the run has finished; start a new run to process new items';
    case 'cancelled':
      return 'a cancelled run cannot be reopened; start a new run (already delivered items are skipped by the ledger)';
    case 'failed':
      return 'use `retry(<run>)` to retry a failed run';
    default:
      return undefined;
  }
}

/** True when `value` names a run state (for input such as `--state` or a query parameter). */
export function isRunState(value: string): value is RunState {
  return (RUN_STATES as readonly string[]).includes(value);
}
