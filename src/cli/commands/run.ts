import type { Command } from 'commander';
import { parseParams, parseRunFlags, type RawRunFlags } from '../options.js';
import { runInForeground } from '../foreground.js';
import { jsonLine } from '../output.js';
import { withContext, withRunOptions } from './shared.js';

export function registerRunCommands(program: Command): void {
  withRunOptions(program.command('run <backfill>').description('run a backfill, resuming its open run if there is one'))
    .option('--new', 'start a new run even if one is open')
    .option('--detach', 'record the run as pending for `sluice worker` processes instead of executing it here')
    .option('--param <key=value>', 'a parameter passed to process as ctx.run.params.extra (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .action(async (backfill: string, raw: RawRunFlags & { new?: boolean; detach?: boolean; param?: string[] }, command: Command) => {
      const flags = parseRunFlags(raw);
      const params = parseParams(raw.param);
      await withContext(command, { needsConfig: true, createStore: true, backfill }, async (ctx) => {
        if (raw.detach) {
          const run = await ctx.sluice.enqueue(backfill, { ...flags, params, actor: ctx.actor });
          if (ctx.json || !ctx.interactive) jsonLine('enqueued', { runId: run.id, backfill: run.backfill, plannedItems: run.plannedItems });
          else process.stdout.write(`run ${run.id} is pending; \`sluice worker\` processes will execute it\n`);
          return 0;
        }
        const handle = await ctx.sluice.start(backfill, { ...flags, newRun: raw.new === true, params, actor: ctx.actor });
        return (await runInForeground(handle, ctx.interactive)).exitCode;
      });
    });

  const continuing = [
    ['resume', 'continue a paused or interrupted run in the foreground'],
    ['retry', 'reopen a failed run and run its failed partitions again'],
  ] as const;
  for (const [name, description] of continuing) {
    withRunOptions(program.command(`${name} <run>`).description(description))
      .action(async (runId: string, raw: RawRunFlags, command: Command) => {
        const flags = parseRunFlags(raw);
        await withContext(command, { needsConfig: true }, async (ctx) => {
          const handle = await ctx.sluice[name](runId, { ...flags, actor: ctx.actor });
          return (await runInForeground(handle, ctx.interactive)).exitCode;
        });
      });
  }
}
