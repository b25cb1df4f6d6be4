import type { Command } from 'commander';
import { UsageError } from '../../index.js';
import { positiveInteger } from '../options.js';
import { formatCount } from '../output.js';
import { withContext } from './shared.js';

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program.command('quarantine').description('items that failed for good: list them, replay them after a fix');

  quarantine
    .command('list')
    .description('quarantined items with error class, message and payload sample')
    .option('--run <run>', 'only this run')
    .option('--backfill <name>', 'only this backfill')
    .option('--class <errorClass>', 'only this error class')
    .option('--all', 'include replayed entries')
    .option('--limit <n>', 'at most this many (default 100)')
    .action(async (options: { run?: string; backfill?: string; class?: string; all?: boolean; limit?: string }, command: Command) => {
      const limit = positiveInteger('--limit', options.limit, 100_000) ?? 100;
      await withContext(command, { needsConfig: false }, async (ctx) => {
        const entries = await ctx.sluice.listQuarantine({
          runId: options.run,
          backfill: options.backfill,
          errorClass: options.class,
          status: options.all ? undefined : 'open',
          limit,
        });
        if (ctx.json) {
          process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
          return 0;
        }
        if (entries.length === 0) {
          process.stdout.write('quarantine is empty\n');
          return 0;
        }
        for (const e of entries) {
          const sample = (e.payload ?? '').slice(0, 120);
          process.stdout.write(
            `#${e.id}  ${e.runId}  key ${e.itemKey}  ${e.errorClass}  attempts ${e.attempts}  ${e.status}\n    ${e.message}\n    ${sample}\n`,
          );
        }
        return 0;
      });
    });

  quarantine
    .command('replay <run>')
    .description("process a run's open quarantine entries again (after fixing the cause)")
    .option('--class <errorClass>', 'only this error class')
    .option('--id <id>', 'only this entry (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .action(async (runId: string, options: { class?: string; id?: string[] }, command: Command) => {
      const ids = options.id?.map((id) => positiveInteger('--id', id) ?? 0);
      if (ids?.some((id) => id === 0)) throw new UsageError('--id must be a quarantine entry number');
      await withContext(command, { needsConfig: true }, async (ctx) => {
        const result = await ctx.sluice.replayQuarantine(runId, { errorClass: options.class, ids, actor: ctx.actor });
        if (ctx.json) process.stdout.write(`${JSON.stringify({ event: 'replay', ...result })}\n`);
        else
          process.stdout.write(
            `replayed ${formatCount(result.replayed)} of ${formatCount(result.attempted)}; ${formatCount(result.stillFailing)} still failing\n`,
          );
        return result.stillFailing > 0 ? 1 : 0;
      });
    });
}
