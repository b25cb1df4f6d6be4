import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunMetrics } from './run-metrics.js';

/**
 * A `/metrics` endpoint for Prometheus (`sluice run|worker --metrics-port`). One route, nothing
 * else: the admin API with its dashboard is `sluice serve`'s job.
 */
export async function serveMetrics(
  metrics: RunMetrics,
  port: number,
  host = '0.0.0.0',
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref(); // the endpoint lives as long as the command, not longer
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
