import type { ServerResponse } from 'node:http';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Sluice } from '../core/sluice.js';
import { type RunSummary, summarize } from './api/run-summary.js';

/**
 * Server-sent events of run progress and state changes. One poller reads the store (so that what
 * workers on other machines do shows up too) while someone listens, and sends each listener the
 * runs that changed: `event: run` with a run summary. A new listener first gets `event: runs`
 * with the latest runs. A listener's token is checked again twice a second: a stream whose token
 * was revoked (by this server or by `sluice token revoke` anywhere) ends within a second.
 */
export class RunEvents {
  /** Each open stream and the id of the token it was opened with. */
  private readonly streams = new Map<ServerResponse, string | undefined>();
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private tokenCheck: NodeJS.Timeout | undefined;
  private polling = false;
  private checkingTokens = false;

  constructor(
    private readonly sluice: Sluice,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  /** How often open streams re-check their token (ms): well under the second a revocation may take to end them. */
  static readonly TOKEN_CHECK_MS = 400;

  async subscribe(response: ServerResponse, tokenId?: string): Promise<void> {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const [listed, now] = await Promise.all([this.sluice.listRuns({ limit: 200 }), this.sluice.store.clockNow()]);
    const runs = listed.map((r) => summarize(r, now));
    send(response, 'runs', { runs });
    this.streams.set(response, tokenId);
    response.on('close', () => {
      this.streams.delete(response);
      if (this.streams.size === 0) this.stop();
    });
    this.start();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.tokenCheck) clearInterval(this.tokenCheck);
    this.timer = undefined;
    this.heartbeat = undefined;
    this.tokenCheck = undefined;
  }

  /** Ends at once every stream opened with this token (revoked through this server). */
  revoked(tokenId: string): void {
    for (const [stream, id] of this.streams) if (id === tokenId) stream.end();
  }

  close(): void {
    this.stop();
    for (const stream of this.streams.keys()) stream.end();
    this.streams.clear();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    // A comment line now and then keeps proxies from closing an idle stream.
    this.heartbeat = setInterval(() => this.streams.forEach((_id, l) => l.write(': keep-alive\n\n')), 15_000);
    this.tokenCheck = setInterval(() => void this.checkTokens(), RunEvents.TOKEN_CHECK_MS);
    this.timer.unref();
    this.heartbeat.unref();
    this.tokenCheck.unref();
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
      for (const summary of changed) for (const listener of this.streams.keys()) send(listener, 'run', summary);
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

  /** Ends the streams whose token is revoked or gone; one store read per distinct token. */
  private async checkTokens(): Promise<void> {
    if (this.checkingTokens) return;
    this.checkingTokens = true;
    try {
      const ids = new Set([...this.streams.values()].filter((id): id is string => id !== undefined));
      for (const id of ids) {
        const token = await this.sluice.store.getToken(id);
        if (!token || token.revokedAt !== null) this.revoked(id);
      }
    } catch (error) {
      // The store does not answer: the streams stay (their poll says so too); the next check tries again.
      this.logger.warn({ err: error }, `live updates could not check their tokens: ${messageOf(error)}`);
    } finally {
      this.checkingTokens = false;
    }
  }
}

function send(response: ServerResponse, event: string, data: unknown): void {
  response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
