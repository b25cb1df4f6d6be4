import type { Command } from 'commander';
import { parseProfile, UsageError } from '../../index.js';
import { parseKeyArgument, parseKnobFlags } from '../options.js';
import { withContext } from './shared.js';

export function registerControlCommands(program: Command): void {
  for (const action of ['pause', 'cancel'] as const) {
    const cmd = program
      .command(`${action} [run]`)
      .description(
        action === 'pause'
          ? 'pause a run at its next batch boundary (resume later)'
          : 'cancel a run at its next batch boundary (or every open run of a concurrency key with --key)',
      )
      .option('--reason <text>', "why (recorded in the run's transition log)");
    if (action === 'cancel')
      cmd.option('--key <name=value>', 'cancel every open run whose concurrency key has this value, e.g. installationId=42');
    cmd.action(async (runId: string | undefined, options: { reason?: string; key?: string }, command: Command) => {
      const key = options.key === undefined ? undefined : parseKeyArgument(options.key);
      if (key && runId) throw new UsageError('give a run id or --key, not both');
      if (!key && !runId)
        throw new UsageError(`${action} needs a run id${action === 'cancel' ? ' or --key name=value' : ''}`, {
          hint: 'list runs with `sluice list`',
        });
      await withContext(command, { needsConfig: false }, async (ctx) => {
        const reason = options.reason ?? `${action} requested from the CLI`;
        if (key) {
          const runs = await ctx.sluice.cancelByKey(key, ctx.actor, `${reason} (${key.name}=${key.value})`);
          if (ctx.json) process.stdout.write(`${JSON.stringify({ event: 'cancel', key, runs })}\n`);
          else
            process.stdout.write(
              runs.length === 0
                ? `no open run has ${key.name}=${key.value}\n`
                : runs
                    .map((r) =>
                      r.control?.kind === 'cancel'
                        ? `cancel requested: run ${r.id} stops at its next batch boundary`
                        : `run ${r.id} is ${r.state}`,
                    )
                    .join('\n') + '\n',
            );
          return 0;
        }
        const run =
          action === 'pause' ? await ctx.sluice.pause(runId!, ctx.actor, reason) : await ctx.sluice.cancel(runId!, ctx.actor, reason);
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

  program
    .command('retune <run>')
    .description("change a running run's throttle: every worker applies it within one batch")
    .option('--batch-size <n>', 'items per batch')
    .option('--concurrency <n>', 'lanes per process')
    .option('--batch-delay <ms>', 'pause after each batch: 250, 500ms, 2s')
    .option('--max-memory <MB>', 'memory limit (RSS) of each process')
    .option('--profile <name>', 'background, moderate or fast (explicit flags override it)')
    .option('--reason <text>', 'why (recorded with the run)')
    .action(
      async (
        runId: string,
        options: { batchSize?: string; concurrency?: string; batchDelay?: string; maxMemory?: string; profile?: string; reason?: string },
        command: Command,
      ) => {
        const knobs = parseKnobFlags(options);
        const profile = options.profile === undefined ? undefined : parseProfile(options.profile, '--profile');
        if (Object.keys(knobs).length === 0 && profile === undefined) {
          throw new UsageError('retune needs at least one of --batch-size, --concurrency, --batch-delay, --max-memory, --profile');
        }
        await withContext(command, { needsConfig: false }, async (ctx) => {
          const run = await ctx.sluice.retune(
            runId,
            { ...knobs, ...(profile ? { profile } : {}) },
            ctx.actor,
            options.reason ?? 'retuned from the CLI',
          );
          const o = run.options;
          if (ctx.json) process.stdout.write(`${JSON.stringify({ event: 'retune', runId: run.id, tuning: run.tuning, options: o })}\n`);
          else
            process.stdout.write(
              `run ${run.id} retuned: batch size ${o.batchSize}, concurrency ${o.concurrency}, delay ${o.batchDelayMs ?? 0} ms${o.maxMemoryMb ? `, memory limit ${o.maxMemoryMb} MB` : ''}${o.profile ? ` (profile ${o.profile})` : ''}; workers apply it within one batch\n`,
            );
          return 0;
        });
      },
    );
}
