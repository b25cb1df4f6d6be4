import { Command } from 'commander';
import type { RunHandle } from '../../core/run-handle.js';
import { serveMetrics } from '../../metrics/metrics-server.js';
import { RunMetrics } from '../../metrics/run-metrics.js';
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
    .option('--max-memory <MB>', 'wait while this process uses more memory (RSS) than this, resume under 90 %')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://host:port/metrics while the run executes (0: any free port)');
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

/**
 * Starts the `/metrics` endpoint when `--metrics-port` was given and says where it is; returns a
 * function that makes a run handle's events count in it.
 */
export async function startMetrics(ctx: CliContext, port: number | undefined): Promise<((handle: RunHandle) => void) | undefined> {
  if (port === undefined) return undefined;
  const metrics = new RunMetrics();
  const server = await serveMetrics(metrics, port);
  if (ctx.interactive) process.stderr.write(`metrics at ${server.url}\n`);
  else process.stdout.write(`${JSON.stringify({ event: 'metrics', url: server.url })}\n`);
  return (handle) => metrics.watch(handle, ctx.sluice.store);
}
