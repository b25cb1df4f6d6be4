import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AlertNotification } from '../../src/index.js';

/** One request the receiver got, with the status it answered (0: it never answered). */
export interface ReceivedRequest {
  status: number;
  body: string;
  signature: string | undefined;
  /** The `x-sluice-notification-id` header. */
  id: string | undefined;
  notification: AlertNotification;
}

export interface WebhookReceiver {
  url: string;
  /** Every request, in arrival order. */
  requests: ReceivedRequest[];
  /** The requests it answered with 2xx. */
  received(): ReceivedRequest[];
  /** Resolves once `count` requests have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A webhook receiver on loopback (a real HTTP server) that answers the statuses it is given in
 * turn, then 200; a status of 0 holds the request open without ever answering.
 */
export async function webhookReceiver(statuses: number[] = []): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      requests.push({
        status,
        body,
        signature: req.headers['x-sluice-signature'] as string | undefined,
        id: req.headers['x-sluice-notification-id'] as string | undefined,
        notification: JSON.parse(body) as AlertNotification,
      });
      server.emit('request-recorded');
      if (status === 0) held.push(res);
      else res.writeHead(status).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    received: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    waitForRequests: async (count) => {
      while (requests.length < count) await once(server, 'request-recorded');
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
