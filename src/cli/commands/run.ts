import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
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
    .option('--param <key=value>', 'a parameter passed to process as ctx.run.params.extra (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--reprocess <mode>', 'none: skip items the ledger holds (default); failed: replay the open quarantine of earlier runs; all: deliver every item again')
    .action(async (backfill: string, raw: RawRunFlags & { new?: boolean; detach?: boolean; param?: string[]; reprocess?: string; metricsPort?: string }, command: Command) => {
      const flags = parseRunFlags(raw);
      const metricsPort = parsePort('--metrics-port', raw.metricsPort);
      const params = parseParams(raw.param);
      const reprocess = parseReprocess(raw.reprocess);
      if (reprocess === 'failed' && (raw.detach || flags.dryRun)) throw new UsageError('--reprocess failed replays quarantined items here and now; it cannot be combined with --detach or --dry-run');
      await withContext(command, { needsConfig: true, createStore: true, backfill }, async (ctx) => {
        if (reprocess === 'failed') return replayFailed(ctx, backfill, params);
        if (flags.sample) return sampleRun(ctx, backfill, flags, params);
        const mode = reprocess === undefined ? {} : { reprocess };
        if (raw.detach) {
          const run = await ctx.sluice.enqueue(backfill, { ...flags, ...mode, params, actor: ctx.actor });
          if (ctx.json || !ctx.interactive) jsonLine('enqueued', { runId: run.id, backfill: run.backfill, plannedItems: run.plannedItems });
          else process.stdout.write(`run ${run.id} is pending; \`sluice worker\` processes will execute it\n`);
          return 0;
        }
        const handle = await startWhenSlotFree(
          () => ctx.sluice.start(backfill, { ...flags, ...mode, newRun: raw.new === true, params, actor: ctx.actor }),
          (runId) => ctx.sluice.resume(runId, { ...flags, actor: ctx.actor }),
          { interactive: ctx.interactive },
        );
        if (!handle) return ExitCode.paused;
        (await startObservers(ctx, metricsPort))(handle);
        return (await runInForeground(handle, ctx.interactive)).exitCode;
      });
    });

  const continuing = [
    ['resume', 'continue a paused or interrupted run in the foreground'],
    ['retry', 'reopen a failed run and run its failed partitions again'],
  ] as const;
  for (const [name, description] of continuing) {
    withRunOptions(program.command(`${name} <run>`).description(description), { newRun: false })
      .action(async (runId: string, raw: RawRunFlags & { metricsPort?: string }, command: Command) => {
        refuseNewRunFlags(name, runId, raw);
        const flags = parseRunFlags(raw);
        const metricsPort = parsePort('--metrics-port', raw.metricsPort);
        await withContext(command, { needsConfig: true }, async (ctx) => {
          const handle = await startWhenSlotFree(
            () => ctx.sluice[name](runId, { ...flags, actor: ctx.actor }),
            (queued) => ctx.sluice.resume(queued, { ...flags, actor: ctx.actor }),
            { interactive: ctx.interactive },
          );
          if (!handle) return ExitCode.paused;
          (await startObservers(ctx, metricsPort))(handle);
          return (await runInForeground(handle, ctx.interactive)).exitCode;
        });
      });
  }
}

/** `--dry-run --sample size-buckets`: what each size bucket (and the malformed records) would do. */
async function sampleRun(ctx: CliContext, backfill: string, flags: ReturnType<typeof parseRunFlags>, params: Record<string, string> | undefined): Promise<number> {
  const report = await ctx.sluice.sample(backfill, { ...flags, params, perBucket: flags.sample!.perBucket, actor: ctx.actor });
  if (ctx.json || !ctx.interactive) {
    jsonLine('sample', { ...report });
  } else {
    const lines = [`dry run on a sample of ${backfill}: ${report.scanned} items scanned, nothing written`];
    for (const b of report.buckets) {
      const size = b.bytes ? ` (${b.bytes[0]}–${b.bytes[1]} bytes)` : '';
      const errors = Object.entries(b.errors).map(([c, n]) => `${c} ×${n}`).join(', ');
      lines.push(`  ${b.bucket.padEnd(9)} ${String(b.items).padStart(4)} items${size}: ${b.processed} would be processed, ${b.quarantined} quarantined${errors ? ` (${errors})` : ''}`);
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
  const runs = (await ctx.sluice.listRuns({ backfill, limit: 10_000 })).filter((r) => params === undefined || isDeepStrictEqual(r.params.extra ?? {}, params));
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
    else process.stdout.write(`run ${run.id}: ${formatCount(result.replayed)} of ${formatCount(result.attempted)} quarantined items processed${result.stillFailing ? `, ${formatCount(result.stillFailing)} still failing` : ''}\n`);
  }
  if (ctx.interactive && !ctx.json) {
    process.stdout.write(attempted === 0 ? `no open quarantine in ${runs.length} run(s) of ${backfill}: nothing failed is left to reprocess\n` : `reprocessed failed items: ${formatCount(replayed)} of ${formatCount(attempted)} now delivered, ${formatCount(stillFailing)} still quarantined\n`);
  }
  return stillFailing > 0 ? ExitCode.failed : ExitCode.ok;
}
