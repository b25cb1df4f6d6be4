import { type Command, Option } from 'commander';
import { type AlertReading, messageOf, type RunHandle, SloMonitor, systemClock } from '../../index.js';
import { RunMetrics, serveMetrics, WebhookNotifier } from '../../observe.js';
import { type CliContext, type ContextOptions, type GlobalFlags, openContext } from '../context.js';

/**
 * Adds the run options shared by run, resume, retry and demo. The options that choose what a new
 * run covers (`--since`, `--dry-run`, `--sample`, `--sample-size`) are hidden from the help of a
 * command that goes on with an existing run (resume, retry), which refuses them with a clear error.
 */
export function withRunOptions(command: Command, { newRun = true }: { newRun?: boolean } = {}): Command {
  const forNewRun = (flags: string, description: string) => new Option(flags, description).hideHelp(!newRun);
  return command
    .option('--batch-size <n>', "items per batch (default: the definition's)")
    .option('--concurrency <n>', 'batches at once over disjoint partitions')
    .option('--max-batches <n>', 'stop cleanly after N batches (the run stays resumable)')
    .addOption(forNewRun('--since <when>', 'only items since a duration ago (7d, 12h, 30m) or an ISO date'))
    .addOption(forNewRun('--dry-run', 'process with ctx.dryRun, roll back, record nothing'))
    .option('--profile <name>', 'throttle profile: background (100 items, 1 s apart, 1 lane), moderate, fast; explicit flags override it')
    .option('--batch-delay <ms>', 'pause after each batch of a lane: 250, 500ms, 2s')
    .option('--max-memory <MB>', 'wait while this process uses more memory (RSS) than this, resume under 90 %')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://host:port/metrics while the run executes (0: any free port)')
    .option('--canary <n>', 'a canary: stop (paused, resumable) after N items; check them, then resume for the rest')
    .option(
      '--gradual',
      'gradual rollout: start with one lane and add one every 10 batches while failures stay under 1 %, health signals say ok and no fast SLO burn pages; step back when a gate breaks',
    )
    .addOption(
      forNewRun(
        '--sample <strategy>',
        'with --dry-run: size-buckets processes items across small, medium and large payloads plus malformed ones',
      ),
    )
    .addOption(forNewRun('--sample-size <n>', 'items per bucket for --sample (default 10)'));
}

/** Opens the context, runs `work`, always closes the store, and returns `work`'s exit code. */
export async function withContext(
  command: Command,
  options: ContextOptions,
  work: (context: CliContext) => Promise<number>,
): Promise<void> {
  const context = await openContext(command.optsWithGlobals<GlobalFlags>(), options);
  try {
    process.exitCode = await work(context);
  } finally {
    await context.close();
  }
}

/** How long a process that stops keeps delivering alert notifications (retries included) before it leaves them to the next evaluator. */
const CLOSING_FLUSH_MS = 10_000;

/** The SLO evaluator of a CLI process: it records alert notifications in the store's outbox and delivers them to the definitions' webhooks. */
export function sloMonitor(ctx: CliContext, onEvaluated?: (readings: AlertReading[]) => void): SloMonitor {
  return new SloMonitor({
    sluice: ctx.sluice,
    clock: systemClock,
    logger: ctx.logger,
    notifier: new WebhookNotifier(),
    ...(onEvaluated ? { onEvaluated } : {}),
  });
}

/**
 * Stops the evaluator, then delivers what the outbox still holds for its backfills for at most
 * `budgetMs`; whatever is left stays in the store for the next evaluator. Returns how many (null
 * when the store could not say: the command's own error, if any, is the one to report).
 */
export async function closeMonitor(ctx: CliContext, monitor: SloMonitor, budgetMs = CLOSING_FLUSH_MS): Promise<number | null> {
  const later = 'they stay in the store, and the next evaluator (run, worker, serve, slo status --evaluate) delivers them';
  try {
    await monitor.stop();
    const left = await monitor.flush(budgetMs);
    if (left > 0) ctx.logger.warn({ pending: left }, `${left} alert notification(s) not delivered yet: ${later}`);
    return left;
  } catch (error) {
    ctx.logger.warn({ err: error }, `could not deliver the alert notifications: ${messageOf(error)}; ${later}`);
    return null;
  }
}

/**
 * What a command that executes backfills watches them with: the SLO evaluator (when a backfill
 * defines SLOs; its alerts go to the definitions' webhooks) and, with `--metrics-port`, the
 * `/metrics` endpoint. Both stop when the context closes. Returns a function that makes a run
 * handle's events count in the metrics.
 */
export async function startObservers(ctx: CliContext, port: number | undefined): Promise<(handle: RunHandle) => void> {
  const thresholds = ctx.sluice
    .backfills()
    .flatMap((d) => d.slo?.objectives ?? [])
    .flatMap((o) => (o.sli.kind === 'batch-duration' ? [o.sli.thresholdSeconds] : []));
  const metrics = port === undefined ? undefined : new RunMetrics({ sloThresholdsSeconds: thresholds });
  const monitor = sloMonitor(ctx, (readings) => metrics?.observeSlo(readings));
  monitor.start();
  ctx.onClose(async () => {
    await closeMonitor(ctx, monitor);
  });
  if (metrics) {
    const server = await serveMetrics(metrics, port!);
    ctx.onClose(() => server.close());
    if (ctx.interactive) process.stderr.write(`metrics at ${server.url}\n`);
    else process.stdout.write(`${JSON.stringify({ event: 'metrics', url: server.url })}\n`);
  }
  return (handle) => metrics?.watch(handle, ctx.sluice.store);
}
