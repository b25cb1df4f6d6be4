import { connect, createServer, type Server, type Socket } from 'node:net';

/** A local TCP listener that accepts connections and never answers (a hung server, from the client's side). */
export async function silentListener(): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server, 0);
  return {
    port,
    url: `postgres://sluice:secret@127.0.0.1:${port}/sluice`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy in front of a real server that the test switches between three states:
 * - forwarding (the start);
 * - `freeze()`: nothing passes either way (bytes are held, not lost) and new connections are
 *   accepted but not answered, like a server whose processes are stopped;
 * - `closePort()`: every connection is cut and the port refuses new ones, like a server that is down.
 * `restore()` goes back to forwarding: held bytes flow on (a thawed server), or the port reopens.
 */
export async function switchableProxy(targetPort: number, targetHost = '127.0.0.1') {
  type Pair = { client: Socket; upstream: Socket | undefined; held: Array<{ to: 'client' | 'upstream'; data: Buffer }> };
  const pairs = new Set<Pair>();
  let frozen = false;
  const open = (pair: Pair) => {
    const upstream = connect(targetPort, targetHost);
    pair.upstream = upstream;
    upstream.on('data', (data: Buffer) => (frozen ? pair.held.push({ to: 'client', data }) : pair.client.write(data)));
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    for (const { data } of pair.held.splice(0).filter((h) => h.to === 'upstream')) upstream.write(data);
  };
  const server = createServer((client) => {
    const pair: Pair = { client, upstream: undefined, held: [] };
    pairs.add(pair);
    client.on('data', (data: Buffer) => (frozen || !pair.upstream ? pair.held.push({ to: 'upstream', data }) : pair.upstream.write(data)));
    client.on('error', () => pair.upstream?.destroy());
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (!frozen) open(pair);
  });
  const port = await listen(server, 0);
  let listening = true;
  return {
    port,
    url: (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    freeze(): void {
      frozen = true;
    },
    async closePort(): Promise<void> {
      listening = false;
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async restore(): Promise<void> {
      frozen = false;
      for (const pair of pairs) {
        if (!pair.upstream) {
          open(pair);
          continue;
        }
        for (const { to, data } of pair.held.splice(0)) (to === 'client' ? pair.client : pair.upstream).write(data);
      }
      if (!listening) {
        await listen(server, port);
        listening = true;
      }
    },
    async close(): Promise<void> {
      if (listening) await this.closePort();
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}
