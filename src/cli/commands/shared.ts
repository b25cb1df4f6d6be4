import { Command } from 'commander';
import { type CliContext, type ContextOptions, type GlobalFlags, openContext } from '../context.js';

/** Adds the run options shared by run, resume, retry and demo. */
export function withRunOptions(command: Command): Command {
  return command
    .option('--batch-size <n>', 'items per batch (default: the definition\'s)')
    .option('--concurrency <n>', 'batches at once over disjoint partitions')
    .option('--max-batches <n>', 'stop cleanly after N batches (the run stays resumable)')
    .option('--since <when>', 'only items since a duration ago (7d, 12h, 30m) or an ISO date')
    .option('--dry-run', 'process with ctx.dryRun, roll back, record nothing')
    .option('--profile <name>', 'throttle profile: background (100 items, 1 s apart, 1 lane), moderate, fast; explicit flags override it')
    .option('--batch-delay <ms>', 'pause after each batch of a lane: 250, 500ms, 2s')
    .option('--max-memory <MB>', 'wait while this process uses more memory (RSS) than this, resume under 90 %');
}

/** Opens the context, runs `work`, always closes the store, and returns `work`'s exit code. */
export async function withContext(command: Command, options: ContextOptions, work: (context: CliContext) => Promise<number>): Promise<void> {
  const context = await openContext(command.optsWithGlobals<GlobalFlags>(), options);
  try {
    process.exitCode = await work(context);
  } finally {
    await context.close();
  }
}
