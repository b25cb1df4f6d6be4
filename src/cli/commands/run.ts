import type { Command } from 'commander';
import { parseParams, parseRunFlags, type RawRunFlags } from '../options.js';
import { runInForeground } from '../foreground.js';
import { withContext, withRunOptions } from './shared.js';

export function registerRunCommands(program: Command): void {
  withRunOptions(program.command('run <backfill>').description('run a backfill, resuming its open run if there is one'))
    .option('--new', 'start a new run even if one is open')
    .option('--param <key=value>', 'a parameter passed to process as ctx.run.params.extra (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .action(async (backfill: string, raw: RawRunFlags & { new?: boolean; param?: string[] }, command: Command) => {
      const flags = parseRunFlags(raw);
      const params = parseParams(raw.param);
      await withContext(command, true, async (ctx) => {
        const handle = await ctx.sluice.start(backfill, { ...flags, newRun: raw.new === true, params, actor: ctx.actor });
        return (await runInForeground(handle, ctx.interactive)).exitCode;
      });
    });

  withRunOptions(program.command('resume <run>').description('continue a paused or interrupted run in the foreground'))
    .action(async (runId: string, raw: RawRunFlags, command: Command) => {
      const flags = parseRunFlags(raw);
      await withContext(command, true, async (ctx) => {
        const handle = await ctx.sluice.resume(runId, { ...flags, actor: ctx.actor });
        return (await runInForeground(handle, ctx.interactive)).exitCode;
      });
    });

  withRunOptions(program.command('retry <run>').description('reopen a failed run and run its failed partitions again'))
    .action(async (runId: string, raw: RawRunFlags, command: Command) => {
      const flags = parseRunFlags(raw);
      await withContext(command, true, async (ctx) => {
        const handle = await ctx.sluice.retry(runId, { ...flags, actor: ctx.actor });
        return (await runInForeground(handle, ctx.interactive)).exitCode;
      });
    });
}
