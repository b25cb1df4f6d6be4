// A local event firehose for the example: `GET /events?since=…&after=<seq>&limit=N` answers a page
// of JSON lines in sequence order. Like real firehoses it sometimes sends an event twice (the same
// event id under a new sequence number): the replay must count it once.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FirehoseEvent {
  seq: number;
  eventId: string;
  type: 'view' | 'click' | 'purchase';
  userId: number;
  at: string;
}

export async function startFirehose(options: {
  days: number;
  perDay: number;
  now?: number;
}): Promise<{ url: string; total: number; close: () => Promise<void> }> {
  const now = options.now ?? Date.now();
  const events: FirehoseEvent[] = [];
  const types = ['view', 'click', 'purchase'] as const;
  for (let i = 0; i < options.days * options.perDay; i++) {
    const event: FirehoseEvent = {
      seq: events.length + 1,
      eventId: `ev-${i + 1}`,
      type: types[i % 3]!,
      userId: 1 + (i % 37),
      at: new Date(now - options.days * 86_400_000 + (i * 86_400_000) / options.perDay).toISOString(),
    };
    events.push(event);
    if (i % 25 === 7) events.push({ ...event, seq: events.length + 1 }); // a re-sent event
  }
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://firehose');
    if (url.pathname !== '/events') return res.writeHead(404).end();
    const since = Date.parse(url.searchParams.get('since') ?? '1970-01-01T00:00:00Z');
    const after = Number(url.searchParams.get('after') ?? 0);
    const limit = Math.min(1000, Number(url.searchParams.get('limit') ?? 500));
    const page = events.filter((e) => e.seq > after && Date.parse(e.at) >= since).slice(0, limit);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(page.map((e) => JSON.stringify(e)).join('\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    total: events.length,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
