import type { ServerResponse } from 'node:http';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Sluice } from '../core/sluice.js';
import { type RunSummary, summarize } from './api/run-summary.js';

/**
 * Server-sent events of run progress and state changes. One poller reads the store (so that what
 * workers on other machines do shows up too) while someone listens, and sends each listener the
 * runs that changed: `event: run` with a run summary. A new listener first gets `event: runs`
 * with the latest runs.
 */
export class RunEvents {
  private readonly listeners = new Set<ServerResponse>();
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly sluice: Sluice, private readonly logger: Logger, private readonly intervalMs = 1000) {}

  async subscribe(response: ServerResponse): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const [listed, now] = await Promise.all([this.sluice.listRuns({ limit: 200 }), this.sluice.store.clockNow()]);
    const runs = listed.map((r) => summarize(r, now));
    send(response, 'runs', { runs });
    this.listeners.add(response);
    response.on('close', () => {
      this.listeners.delete(response);
      if (this.listeners.size === 0) this.stop();
    });
    this.start();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }

  close(): void {
    this.stop();
    for (const listener of this.listeners) listener.end();
    this.listeners.clear();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    // A comment line now and then keeps proxies from closing an idle stream.
    this.heartbeat = setInterval(() => this.listeners.forEach((l) => l.write(': keep-alive\n\n')), 15_000);
    this.timer.unref();
    this.heartbeat.unref();
  }

  /** The last poll failed: the outage was already logged. */
  private failing = false;

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const changed: RunSummary[] = [];
      for (const run of await this.sluice.listRuns({ limit: 200 })) {
        const version = `${run.state}|${run.updatedAt}|${run.counts.received}|${run.batches}|${run.control?.kind ?? ''}`;
        if (this.seen.get(run.id) === version) continue;
        this.seen.set(run.id, version);
        changed.push(summarize(run));
      }
      for (const summary of changed) for (const listener of this.listeners) send(listener, 'run', summary);
      if (this.failing) this.logger.info({}, 'live updates read the store again');
      this.failing = false;
    } catch (error) {
      // Once per outage, not at every poll.
      if (this.failing) this.logger.debug({ err: error }, `live updates still cannot read the store: ${messageOf(error)}`);
      else this.logger.warn({ err: error }, `live updates could not read the store: ${messageOf(error)}; they resume when it answers`);
      this.failing = true;
    } finally {
      this.polling = false;
    }
  }
}

function send(response: ServerResponse, event: string, data: unknown): void {
  response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
