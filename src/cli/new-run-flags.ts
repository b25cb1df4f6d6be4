import { UsageError } from '../index.js';
import type { RawRunFlags } from './options.js';

/**
 * Flags that choose what a new run covers or whether it writes at all: `resume` and `retry` go on
 * with a run as it was created, so these could only be ignored there, silently. They are refused,
 * naming the flag and the command that does what was meant.
 */
export function refuseNewRunFlags(command: 'resume' | 'retry', runId: string, raw: RawRunFlags): void {
  if (raw.since !== undefined) {
    throw new UsageError(`--since applies to a new run; run ${runId} keeps the window it was created with`, {
      hint: `start a new run with \`sluice run <backfill> --new --since ${raw.since}\` (\`sluice status ${runId}\` names its backfill)`,
    });
  }
  if (raw.sample !== undefined || raw.sampleSize !== undefined) {
    const flag = raw.sample !== undefined ? '--sample' : '--sample-size';
    throw new UsageError(`${flag} samples the items of a new dry run; \`sluice ${command}\` executes run ${runId} for real`, {
      hint: 'sample with `sluice run <backfill> --dry-run --sample size-buckets`: it records nothing',
    });
  }
  if (raw.dryRun) {
    throw new UsageError(`--dry-run applies to a new run; \`sluice ${command}\` executes run ${runId} for real`, {
      hint: 'for a dry run, `sluice run <backfill> --dry-run` (it records nothing); without --dry-run, this command goes on with the run',
    });
  }
}
