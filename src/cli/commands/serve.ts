import type { Command } from 'commander';
import { packageVersion, runWorker, systemClock, UsageError } from '../../index.js';
import { registerStoreMetrics, RunMetrics } from '../../observe.js';
import { buildServer, parseAuthFailureLimit } from '../../server.js';
import { envLayer, parsePort } from '../options.js';
import { armShutdownDeadline } from '../shutdown-deadline.js';
import { closeMonitor, sloMonitor, withContext } from './shared.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'the admin API (/api/v1, token auth), the web dashboard (/), /metrics, /healthz and /readyz; evaluates the SLOs and, unless --no-worker, executes runs like `sluice worker`',
    )
    .option('--port <port>', 'port to listen on (default 8080; 0: any free port)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)')
    .option(
      '--allowed-host <names>',
      'host names the server answers to besides its own addresses, comma-separated (a proxy, a DNS name; "*" for any); default SLUICE_ALLOWED_HOSTS',
    )
    .option('--no-worker', 'do not execute runs here (leave them to `sluice worker` processes)')
    .action(async (options: { port?: string; host?: string; allowedHost?: string; worker: boolean }, command: Command) => {
      const port = parsePort('--port', options.port) ?? 8080;
      const host = options.host ?? '127.0.0.1';
      const limitText = process.env.SLUICE_AUTH_FAILURE_LIMIT;
      const authFailureLimit = limitText === undefined ? undefined : parseAuthFailureLimit(limitText);
      if (limitText !== undefined && !authFailureLimit)
        throw new UsageError(`SLUICE_AUTH_FAILURE_LIMIT must be failures/seconds like 20/60, got "${limitText}"`);
      const allowedHosts = (options.allowedHost ?? process.env.SLUICE_ALLOWED_HOSTS ?? '')
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h.length > 0);
      await withContext(command, { needsConfig: true }, async (ctx) => {
        const thresholds = ctx.sluice
          .backfills()
          .flatMap((d) => d.slo?.objectives ?? [])
          .flatMap((o) => (o.sli.kind === 'batch-duration' ? [o.sli.thresholdSeconds] : []));
        const metrics = new RunMetrics({ sloThresholdsSeconds: thresholds });
        registerStoreMetrics(metrics.registry, ctx.sluice.store);
        const monitor = sloMonitor(ctx, (r) => metrics.observeSlo(r));
        const { app } = buildServer({
          sluice: ctx.sluice,
          metrics,
          logger: ctx.logger,
          version: packageVersion() ?? '0.0.0',
          allowedHosts,
          authFailureLimit,
        });
        await app.listen({ port, host });
        const address = app.server.address();
        const url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;
        if (ctx.json || !ctx.interactive) process.stdout.write(`${JSON.stringify({ event: 'listening', url })}\n`);
        else process.stdout.write(`sluice serve: dashboard ${url}/, API ${url}/api/v1, ${url}/metrics (Ctrl-C stops)\n`);
        monitor.start();
        const abort = new AbortController();
        const stop = (signal: NodeJS.Signals) => {
          ctx.logger.info({ signal }, 'stopping: closing the server and handing the partitions back');
          armShutdownDeadline('sluice serve');
          abort.abort();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // The server's own worker: runs created through the API execute here, beside any other workers.
        const worker = options.worker
          ? runWorker({
              sluice: ctx.sluice,
              clock: systemClock,
              logger: ctx.logger,
              signal: abort.signal,
              pollIntervalMs: 500,
              joinOptions: { throttleLayers: [envLayer(process.env)] },
              onRun: (handle) => {
                metrics.watch(handle, ctx.sluice.store);
                ctx.logger.info({ runId: handle.runId, backfill: handle.backfill }, 'executing run');
              },
            })
          : new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        await worker;
        if (!abort.signal.aborted)
          await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        await closeMonitor(ctx, monitor);
        await app.close();
        return 0;
      });
    });
}
