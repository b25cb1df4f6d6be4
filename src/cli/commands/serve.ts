import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { SloMonitor } from '../../core/slo/monitor.js';
import { RunMetrics } from '../../observe/run-metrics.js';
import { registerStoreMetrics } from '../../observe/store-metrics.js';
import { WebhookNotifier } from '../../observe/webhook-notifier.js';
import { buildServer } from '../../server/server.js';
import { parsePort } from '../options.js';
import { withContext } from './shared.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve /metrics (runs in the store, SLO burn rates), /healthz and /readyz, and evaluate the SLOs, until interrupted')
    .option('--port <port>', 'port to listen on (default 8080; 0: any free port)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)')
    .action(async (options: { port?: string; host?: string }, command: Command) => {
      const port = parsePort('--port', options.port) ?? 8080;
      const host = options.host ?? '127.0.0.1';
      await withContext(command, { needsConfig: true }, async (ctx) => {
        const thresholds = ctx.sluice.backfills().flatMap((d) => d.slo?.objectives ?? []).flatMap((o) => (o.sli.kind === 'batch-duration' ? [o.sli.thresholdSeconds] : []));
        const metrics = new RunMetrics({ sloThresholdsSeconds: thresholds });
        registerStoreMetrics(metrics.registry, ctx.sluice.store);
        const notifier = new WebhookNotifier({ logger: ctx.logger });
        const monitor = new SloMonitor({ sluice: ctx.sluice, clock: systemClock, logger: ctx.logger, notifier, onEvaluated: (r) => metrics.observeSlo(r) });
        const app = buildServer({ sluice: ctx.sluice, metrics });
        await app.listen({ port, host });
        const address = app.server.address();
        const url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;
        if (ctx.json || !ctx.interactive) process.stdout.write(`${JSON.stringify({ event: 'listening', url })}\n`);
        else process.stdout.write(`sluice serve: ${url}/metrics, ${url}/healthz, ${url}/readyz (Ctrl-C stops)\n`);
        monitor.start();
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await monitor.stop();
        await notifier.flush();
        await app.close();
        return 0;
      });
    });
}
