import type { Command } from 'commander';
import { withContext } from './shared.js';

export function registerControlCommands(program: Command): void {
  for (const action of ['pause', 'cancel'] as const) {
    program
      .command(`${action} <run>`)
      .description(action === 'pause' ? 'pause a run at its next batch boundary (resume later)' : 'cancel a run at its next batch boundary')
      .option('--reason <text>', 'why (recorded in the run\'s transition log)')
      .action(async (runId: string, options: { reason?: string }, command: Command) => {
        await withContext(command, { needsConfig: false }, async (ctx) => {
          const reason = options.reason ?? `${action} requested from the CLI`;
          const run = action === 'pause' ? await ctx.sluice.pause(runId, ctx.actor, reason) : await ctx.sluice.cancel(runId, ctx.actor, reason);
          const requested = run.control?.kind === action;
          const message = requested
            ? `${action} requested: run ${run.id} stops at its next batch boundary, after a checkpoint`
            : `run ${run.id} is ${run.state}`;
          if (ctx.json) process.stdout.write(`${JSON.stringify({ event: action, requested, run })}\n`);
          else process.stdout.write(`${message}\n`);
          return 0;
        });
      });
  }
}
