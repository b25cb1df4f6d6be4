import type { Command } from 'commander';
import { parseKeyArgument } from '../../core/concurrency.js';
import { UsageError } from '../../core/errors.js';
import { withContext } from './shared.js';

export function registerControlCommands(program: Command): void {
  for (const action of ['pause', 'cancel'] as const) {
    const cmd = program
      .command(`${action} [run]`)
      .description(action === 'pause' ? 'pause a run at its next batch boundary (resume later)' : 'cancel a run at its next batch boundary (or every open run of a concurrency key with --key)')
      .option('--reason <text>', 'why (recorded in the run\'s transition log)');
    if (action === 'cancel') cmd.option('--key <name=value>', 'cancel every open run whose concurrency key has this value, e.g. installationId=42');
    cmd.action(async (runId: string | undefined, options: { reason?: string; key?: string }, command: Command) => {
        const key = options.key === undefined ? undefined : parseKeyArgument(options.key);
        if (key && runId) throw new UsageError('give a run id or --key, not both');
        if (!key && !runId) throw new UsageError(`${action} needs a run id${action === 'cancel' ? ' or --key name=value' : ''}`, { hint: 'list runs with `sluice list`' });
        await withContext(command, { needsConfig: false }, async (ctx) => {
          const reason = options.reason ?? `${action} requested from the CLI`;
          if (key) {
            const runs = await ctx.sluice.cancelByKey(key, ctx.actor, `${reason} (${key.name}=${key.value})`);
            if (ctx.json) process.stdout.write(`${JSON.stringify({ event: 'cancel', key, runs })}\n`);
            else process.stdout.write(runs.length === 0 ? `no open run has ${key.name}=${key.value}\n` : runs.map((r) => (r.control?.kind === 'cancel' ? `cancel requested: run ${r.id} stops at its next batch boundary` : `run ${r.id} is ${r.state}`)).join('\n') + '\n');
            return 0;
          }
          const run = action === 'pause' ? await ctx.sluice.pause(runId!, ctx.actor, reason) : await ctx.sluice.cancel(runId!, ctx.actor, reason);
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
