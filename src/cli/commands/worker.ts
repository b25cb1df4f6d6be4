import type { Command } from 'commander';
import { parseDuration, runWorker, systemClock, UsageError } from '../../index.js';
import { envLayer, parsePort, positiveInteger } from '../options.js';
import { jsonLine } from '../output.js';
import { type CliContext, isPostgresUrl } from '../context.js';
import { armShutdownDeadline } from '../shutdown-deadline.js';
import { startObservers, withContext } from './shared.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('join the pool: work the partitions of pending and running runs in a shared (PostgreSQL) store')
    .option(
      '--poll <duration>',
      "how often to look for work when there is none, and for a dead worker's partitions to take over while busy (default 1s)",
    )
    .option('--backfill <name>', 'only runs of this backfill (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--concurrency <n>', "partitions this worker works at once per run (default: the run's concurrency)")
    .option(
      '--lease <duration>',
      "how long a claimed partition stays this worker's without a heartbeat (default 30s); heartbeats come every third of it",
    )
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://host:port/metrics (0: any free port)')
    .option('--exit-when-idle', 'exit once no pending or running run is left (instead of waiting for new ones)')
    .action(
      async (
        options: { poll?: string; backfill?: string[]; exitWhenIdle?: boolean; concurrency?: string; lease?: string; metricsPort?: string },
        command: Command,
      ) => {
        const metricsPort = parsePort('--metrics-port', options.metricsPort);
        const leaseMs = options.lease === undefined ? undefined : parseDuration(options.lease, '--lease');
        if (leaseMs !== undefined && leaseMs < 500) throw new UsageError(`--lease must be at least 500ms, got "${options.lease}"`);
        const concurrency = positiveInteger('--concurrency', options.concurrency, 256);
        const pollIntervalMs = options.poll === undefined ? 1000 : parseDuration(options.poll, '--poll');
        if (pollIntervalMs < 10) throw new UsageError(`--poll must be at least 10ms, got "${options.poll}"`);
        await withContext(command, { needsConfig: true, createStore: true, leaseMs }, async (ctx) => {
          if (options.backfill) options.backfill.forEach((name) => ctx.sluice.backfill(name));
          const watch = await startObservers(ctx, metricsPort);
          const abort = new AbortController();
          const onSignal = (signal: NodeJS.Signals) => {
            if (abort.signal.aborted) process.exit(130);
            process.stderr.write(`${signal}: finishing the batches in flight and handing the partitions back\n`);
            armShutdownDeadline('sluice worker');
            abort.abort();
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
          try {
            const result = await runWorker({
              sluice: ctx.sluice,
              clock: systemClock,
              logger: ctx.logger,
              signal: abort.signal,
              pollIntervalMs,
              backfills: options.backfill,
              exitWhenIdle: options.exitWhenIdle === true,
              concurrency,
              joinOptions: { throttleLayers: [envLayer(process.env)] },
              onRun: (handle) => {
                watch(handle);
                ctx.logger.info({ runId: handle.runId, backfill: handle.backfill }, 'joined run');
                if (!ctx.interactive) handle.on('progress', (p) => jsonLine('progress', p));
              },
              onOutcome: (outcome) => {
                const { record: _record, ...rest } = outcome;
                if (ctx.interactive)
                  process.stdout.write(`run ${outcome.runId}: ${outcome.state}${outcome.reason ? ` (${outcome.reason})` : ''}\n`);
                else jsonLine('outcome', rest);
              },
            });
            if (result.idle) sayIdle(ctx, result.runsWorked, options.backfill);
          } finally {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          }
          return 0;
        });
      },
    );
}

/**
 * `--exit-when-idle` found nothing left: say so, and when this worker had nothing to do at all,
 * what workers need: backfills they know (the config), runs recorded for them, in a store their
 * processes share.
 */
function sayIdle(ctx: CliContext, runsWorked: number, only: string[] | undefined): void {
  const known = only ?? ctx.sluice.backfills().map((d) => d.name);
  const message =
    known.length === 0
      ? `this worker knows no backfill, so no run in ${ctx.sluice.store.location} is for it; exiting`
      : `no pending or running run of ${known.join(', ')} left in ${ctx.sluice.store.location}; this worker worked ${runsWorked} run(s)`;
  const hint =
    runsWorked > 0
      ? undefined
      : [
          known.length === 0 ? 'a worker runs the backfills of sluice.config.ts in its working directory (or --config FILE)' : undefined,
          'it executes the runs recorded for workers: `sluice run <backfill> --detach` records one, and a run left running by a process that stopped is taken over',
          isPostgresUrl(ctx.dbPath)
            ? undefined
            : `an SQLite store (${ctx.dbPath}) is shared only by processes on this machine; workers on several machines share a PostgreSQL store: --db postgres://…`,
        ]
          .filter(Boolean)
          .join('; ');
  if (ctx.interactive) process.stderr.write(`${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  else jsonLine('idle', { store: ctx.sluice.store.location, backfills: known, runsWorked, message, ...(hint ? { hint } : {}) });
}
