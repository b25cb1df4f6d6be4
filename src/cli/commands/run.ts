import type { Command } from 'commander';
import { type EnqueueResult, InvalidTransitionError, RunAlreadySucceededError, UsageError } from '../../index.js';
import { ExitCode, exitCodeOfOutcome } from '../exit-codes.js';
import { isDeepStrictEqual } from 'node:util';
import { parseParams, parsePort, parseRunFlags, type RawRunFlags } from '../options.js';
import { runInForeground, startWhenSlotFree } from '../foreground.js';
import { refuseNewRunFlags } from '../new-run-flags.js';
import { formatCount, jsonLine } from '../output.js';
import type { CliContext } from '../context.js';
import { startObservers, withContext, withRunOptions } from './shared.js';

export function registerRunCommands(program: Command): void {
  withRunOptions(program.command('run <backfill>').description('run a backfill, resuming its open run if there is one'))
    .option('--new', 'start a new run even if one is open')
    .option('--detach', 'record the run as pending for `sluice worker` processes instead of executing it here')
    .option(
      '--param <key=value>',
      'a parameter passed to process as ctx.run.params.extra (repeatable)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      '--reprocess <mode>',
      'none: skip items the ledger holds (default); failed: replay the open quarantine of earlier runs; all: deliver every item again',
    )
    .option(...NO_FOLLOW)
    .action(
      async (
        backfill: string,
        raw: RawRunFlags & { new?: boolean; detach?: boolean; param?: string[]; reprocess?: string; metricsPort?: string },
        command: Command,
      ) => {
        const flags = parseRunFlags(raw);
        const metricsPort = parsePort('--metrics-port', raw.metricsPort);
        const params = parseParams(raw.param);
        const reprocess = parseReprocess(raw.reprocess);
        if (reprocess === 'failed' && (raw.detach || flags.dryRun))
          throw new UsageError(
            '--reprocess failed replays quarantined items here and now; it cannot be combined with --detach or --dry-run',
          );
        if (raw.detach && flags.follow === false)
          throw new UsageError('--no-follow is for a run executing here; --detach returns at once anyway: drop one of them');
        await withContext(command, { needsConfig: true, createStore: true, backfill }, async (ctx) => {
          if (reprocess === 'failed') return replayFailed(ctx, backfill, params);
          if (flags.sample) return sampleRun(ctx, backfill, flags, params);
          const mode = reprocess === undefined ? {} : { reprocess };
          const newRun = raw.new === true;
          if (raw.detach) {
            const enqueued = await reportSucceeded(ctx, () =>
              ctx.sluice.enqueue(backfill, { ...flags, ...mode, newRun, params, actor: ctx.actor }),
            );
            if (enqueued === ALREADY_SUCCEEDED) return ExitCode.ok;
            const { run, outcome } = enqueued;
            if (ctx.json || !ctx.interactive)
              jsonLine('enqueued', { runId: run.id, backfill: run.backfill, state: run.state, outcome, plannedItems: run.plannedItems });
            else process.stdout.write(`${ENQUEUED[outcome](run.id, run.state)}\n`);
            return ExitCode.ok;
          }
          const handle = await reportSucceeded(ctx, () =>
            startWhenSlotFree(
              () => ctx.sluice.start(backfill, { ...flags, ...mode, newRun, params, actor: ctx.actor }),
              (runId) => ctx.sluice.resume(runId, { ...flags, actor: ctx.actor }),
              { interactive: ctx.interactive },
            ),
          );
          if (handle === ALREADY_SUCCEEDED) return ExitCode.ok;
          if (!handle) return ExitCode.paused;
          (await startObservers(ctx, metricsPort))(handle);
          return exitCodeOfOutcome(await runInForeground(handle, ctx.interactive));
        });
      },
    );

  const continuing = [
    ['resume', 'continue a paused or interrupted run in the foreground (--detach: hand a paused run back to the workers)'],
    ['retry', 'reopen a failed run and run its failed partitions again (--detach: hand them to the workers)'],
  ] as const;
  for (const [name, description] of continuing) {
    withRunOptions(program.command(`${name} <run>`).description(description), { newRun: false })
      .option(...NO_FOLLOW)
      .option(
        '--detach',
        name === 'resume'
          ? 'make the paused run pending again for `sluice worker` processes instead of executing it here'
          : 'make the failed run pending again, its failed partitions with it, for `sluice worker` processes instead of executing it here',
      )
      .option('--reason <text>', "why (recorded in the run's transition log)")
      .action(async (runId: string, raw: RawRunFlags & { metricsPort?: string; detach?: boolean; reason?: string }, command: Command) => {
        if (raw.detach) {
          refuseRunFlagsWithDetach(name, raw);
          return withContext(command, { needsConfig: false }, (ctx) => handBack(ctx, name, runId, raw.reason));
        }
        refuseNewRunFlags(name, runId, raw);
        const flags = parseRunFlags(raw);
        const metricsPort = parsePort('--metrics-port', raw.metricsPort);
        await withContext(command, { needsConfig: true }, async (ctx) => {
          const handle = await startWhenSlotFree(
            () => ctx.sluice[name](runId, { ...flags, actor: ctx.actor, ...(raw.reason !== undefined ? { reason: raw.reason } : {}) }),
            (queued) => ctx.sluice.resume(queued, { ...flags, actor: ctx.actor }),
            { interactive: ctx.interactive },
          );
          if (!handle) return ExitCode.paused;
          (await startObservers(ctx, metricsPort))(handle);
          return exitCodeOfOutcome(await runInForeground(handle, ctx.interactive));
        });
      });
  }
}

/** What `run --detach` tells the operator it did. */
const ENQUEUED: Record<EnqueueResult['outcome'], (runId: string, state: string) => string> = {
  created: (id) => `run ${id} is pending; \`sluice worker\` processes will execute it`,
  open: (id, state) =>
    `run ${id} of this backfill is already open (${state}); nothing new was recorded (\`--new\` records another run beside it)`,
  requeued: (id) => `run ${id} was paused; it is pending again and \`sluice worker\` processes will resume it`,
};

/**
 * Starts, or says that the backfill already succeeded with these parameters (exit 0, nothing
 * done): a second `sluice run X` after a success, or after a kill that landed after the last
 * commit, must not write everything again.
 */
const ALREADY_SUCCEEDED = Symbol('already succeeded');
async function reportSucceeded<T>(ctx: CliContext, start: () => Promise<T>): Promise<T | typeof ALREADY_SUCCEEDED> {
  try {
    return await start();
  } catch (error) {
    if (!(error instanceof RunAlreadySucceededError)) throw error;
    const { run } = error;
    if (ctx.json || !ctx.interactive) jsonLine('already-succeeded', { runId: run.id, backfill: run.backfill, finishedAt: run.finishedAt });
    else
      process.stdout.write(
        `${run.backfill} already succeeded with these parameters in run ${run.id}${run.finishedAt ? ` (finished ${run.finishedAt})` : ''}: nothing to do.\n  \`sluice run ${run.backfill} --new\` runs it again (a transactional backfill writes every item again; otherwise the ledger skips delivered items).\n`,
      );
    return ALREADY_SUCCEEDED;
  }
}

/** `--no-follow`, on the commands that execute a run in the foreground. */
const NO_FOLLOW = [
  '--no-follow',
  'return (exit 5) once other workers hold what is left of the run, instead of following it to its end',
] as const;

/**
 * `resume --detach` / `retry --detach`: the run becomes pending again for the workers, as the API's
 * resume does; nothing executes here. A pending run is left as it is (a worker starts it).
 */
async function handBack(ctx: CliContext, command: 'resume' | 'retry', runId: string, reason: string | undefined): Promise<number> {
  const before = (await ctx.sluice.status(runId)).run;
  if (command === 'resume' && before.state === 'failed') {
    // The engine's hint names its methods; here the command that does it.
    throw new InvalidTransitionError(`run ${runId} is failed; only a paused run can be handed back to the workers`, {
      hint: `\`sluice retry ${runId} --detach\` reopens it for the workers`,
    });
  }
  const why = reason ?? `${command} --detach from the CLI: handed back to the workers`;
  const run = command === 'resume' ? await ctx.sluice.requeue(runId, ctx.actor, why) : await ctx.sluice.reopen(runId, ctx.actor, why);
  if (ctx.json || !ctx.interactive) {
    jsonLine('handed-back', { runId: run.id, backfill: run.backfill, from: before.state, state: run.state });
  } else {
    const what =
      before.state === 'pending'
        ? 'is already pending'
        : `is pending again (was ${before.state}${command === 'retry' ? '; its failed partitions with it' : ''})`;
    process.stdout.write(`run ${run.id} ${what}: \`sluice worker\` processes will pick it up; \`sluice status ${run.id}\` follows it\n`);
  }
  return ExitCode.ok;
}

/** `--detach` hands the run back as it is: flags that would shape an execution here do not apply. */
function refuseRunFlagsWithDetach(command: 'resume' | 'retry', raw: RawRunFlags & { metricsPort?: string }): void {
  const flags: Array<[keyof typeof raw, string]> = [
    ['batchSize', '--batch-size'],
    ['concurrency', '--concurrency'],
    ['maxBatches', '--max-batches'],
    ['since', '--since'],
    ['dryRun', '--dry-run'],
    ['profile', '--profile'],
    ['batchDelay', '--batch-delay'],
    ['maxMemory', '--max-memory'],
    ['metricsPort', '--metrics-port'],
    ['canary', '--canary'],
    ['gradual', '--gradual'],
    ['sample', '--sample'],
    ['sampleSize', '--sample-size'],
  ];
  const given = flags.filter(([key]) => raw[key] !== undefined).map(([, flag]) => flag);
  if (raw.follow === false) given.push('--no-follow');
  if (given.length > 0) {
    throw new UsageError(
      `${command} --detach hands the run back to the workers as it is: ${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only to a run executing here`,
      {
        hint: "drop them, or change a run's throttle with `sluice retune <run>`",
      },
    );
  }
}

/** `--dry-run --sample size-buckets`: what each size bucket (and the malformed records) would do. */
async function sampleRun(
  ctx: CliContext,
  backfill: string,
  flags: ReturnType<typeof parseRunFlags>,
  params: Record<string, string> | undefined,
): Promise<number> {
  const report = await ctx.sluice.sample(backfill, { ...flags, params, perBucket: flags.sample!.perBucket, actor: ctx.actor });
  if (ctx.json || !ctx.interactive) {
    jsonLine('sample', { ...report });
  } else {
    const lines = [`dry run on a sample of ${backfill}: ${report.scanned} items scanned, nothing written`];
    for (const b of report.buckets) {
      const size = b.bytes ? ` (${b.bytes[0]}–${b.bytes[1]} bytes)` : '';
      const errors = Object.entries(b.errors)
        .map(([c, n]) => `${c} ×${n}`)
        .join(', ');
      lines.push(
        `  ${b.bucket.padEnd(9)} ${String(b.items).padStart(4)} items${size}: ${b.processed} would be processed, ${b.quarantined} quarantined${errors ? ` (${errors})` : ''}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return report.buckets.some((b) => b.bucket !== 'malformed' && b.quarantined > 0) ? ExitCode.failed : ExitCode.ok;
}

function parseReprocess(value: string | undefined): 'none' | 'failed' | 'all' | undefined {
  if (value === undefined) return undefined;
  if (value === 'none' || value === 'failed' || value === 'all') return value;
  throw new UsageError(`--reprocess must be none, failed or all, got "${value}"`);
}

/**
 * `--reprocess failed`: the items earlier runs of the backfill quarantined, processed again (after a
 * fix), run by run; with --param, only runs with the same parameters. New items wait for a normal run.
 */
async function replayFailed(ctx: CliContext, backfill: string, params: Record<string, string> | undefined): Promise<number> {
  const runs = (await ctx.sluice.listRuns({ backfill, limit: 10_000 })).filter(
    (r) => params === undefined || isDeepStrictEqual(r.params.extra ?? {}, params),
  );
  let attempted = 0;
  let replayed = 0;
  let stillFailing = 0;
  for (const run of runs) {
    if ((await ctx.sluice.listQuarantine({ runId: run.id, status: 'open', limit: 1 })).length === 0) continue;
    const result = await ctx.sluice.replayQuarantine(run.id, { actor: ctx.actor });
    attempted += result.attempted;
    replayed += result.replayed;
    stillFailing += result.stillFailing;
    if (ctx.json || !ctx.interactive) jsonLine('replayed', { ...result });
    else
      process.stdout.write(
        `run ${run.id}: ${formatCount(result.replayed)} of ${formatCount(result.attempted)} quarantined items processed${result.stillFailing ? `, ${formatCount(result.stillFailing)} still failing` : ''}\n`,
      );
  }
  if (ctx.interactive && !ctx.json) {
    process.stdout.write(
      attempted === 0
        ? `no open quarantine in ${runs.length} run(s) of ${backfill}: nothing failed is left to reprocess\n`
        : `reprocessed failed items: ${formatCount(replayed)} of ${formatCount(attempted)} now delivered, ${formatCount(stillFailing)} still quarantined\n`,
    );
  }
  return stillFailing > 0 ? ExitCode.failed : ExitCode.ok;
}
