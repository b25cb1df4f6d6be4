import type { RunOutcome } from '../index.js';

/** Process exit codes of the CLI, documented in docs/cli.md. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  paused: 3,
  cancelled: 4,
  /**
   * This process returned while the run goes on in other workers' hands (asked not to follow it,
   * or interrupted while other workers held partitions): the run has not ended.
   */
  handedOff: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit code for each error code Sluice raises: the core says what went wrong, the CLI decides
 * what its exit status makes of it. Input the user can fix (a flag, the config, a run id, a run in
 * the wrong state) is `usage`; a backfill that already succeeded is no failure; the rest failed.
 * A code missing here fails with 1 (test/unit/cli-errors.test.ts checks that every code is listed).
 */
export const EXIT_CODE_OF_ERROR: Readonly<Record<string, ExitCode>> = {
  USAGE: ExitCode.usage,
  CONFIG_INVALID: ExitCode.usage,
  NOT_FOUND: ExitCode.usage,
  INVALID_TRANSITION: ExitCode.usage,
  RUN_OPEN: ExitCode.usage,
  CONCURRENCY_KEY_MISSING: ExitCode.usage,
  NO_BATCH_TRANSACTION: ExitCode.usage,
  WRONG_STORE: ExitCode.usage,
  SQL_ARRAY_PARAMETER: ExitCode.usage,
  SQL_PLACEHOLDERS: ExitCode.usage,
  RUN_ALREADY_SUCCEEDED: ExitCode.ok,
  RUN_QUEUED: ExitCode.failed,
  RUN_ACTIVE: ExitCode.failed,
  RUN_CHANGED: ExitCode.failed,
  STORE: ExitCode.failed,
  SOURCE: ExitCode.failed,
  BATCH_ABORTED: ExitCode.failed,
  LEASE_LOST: ExitCode.failed,
  CHECKPOINT_MOVED: ExitCode.failed,
};

/** The exit code for a Sluice error's code. */
export function exitCodeOfError(error: { code: string }): ExitCode {
  return EXIT_CODE_OF_ERROR[error.code] ?? ExitCode.failed;
}

/**
 * The exit code for a run's outcome: 0 when it succeeded or paused where the start asked it to
 * (maxBatches, a canary), 3 paused, 4 cancelled, 1 failed, 5 when it goes on in other workers' hands.
 */
export function exitCodeOfOutcome(outcome: Pick<RunOutcome, 'state' | 'pausedAsAsked'>): ExitCode {
  switch (outcome.state) {
    case 'succeeded':
      return ExitCode.ok;
    case 'running':
    case 'pending':
      // The run has not ended: this process left it to others.
      return ExitCode.handedOff;
    case 'paused':
      return outcome.pausedAsAsked ? ExitCode.ok : ExitCode.paused;
    case 'cancelled':
      return ExitCode.cancelled;
    case 'failed':
      return ExitCode.failed;
  }
}
