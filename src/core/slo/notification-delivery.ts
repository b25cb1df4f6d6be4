import type { Clock } from '../clock.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AlertOutbox } from '../store.js';
import type { AlertNotification } from './alert-notification.js';
import type { OutboxRecord, OutboxSettlement } from './alert-outbox.js';
import type { Webhook } from './slo.js';

/** How one attempt to a webhook ended. */
export type AttemptResult =
  | { ok: true; status: number }
  /** `retry`: worth another attempt (network error, timeout, 5xx, 429); otherwise the receiver refused it for good. */
  | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

/** Makes one attempt to deliver a notification to a webhook, within `webhook.timeoutMs` (an HTTP adapter in `observe/`). Never throws. */
export interface AlertNotifier {
  attempt(webhook: Webhook, notification: AlertNotification): Promise<AttemptResult>;
}

export interface NotificationDeliveryOptions {
  store: AlertOutbox;
  clock: Clock;
  logger: Logger;
  notifier: AlertNotifier;
  /** The claims' owner: this process. */
  owner: string;
  /** The webhooks this process knows, by backfill. Notifications of other backfills are left to evaluators that loaded them. */
  webhooks: ReadonlyMap<string, readonly Webhook[]>;
  /** The first retry's delay; doubles with each attempt. Default 1000 ms. */
  baseDelayMs?: number;
  /** The longest delay between two attempts. Default 60 s. */
  maxDelayMs?: number;
}

/** A claim outlives the longest attempt (its timeout) with room to record the outcome. */
export function claimLeaseMs(webhooks: ReadonlyMap<string, readonly Webhook[]>): number {
  return 2 * Math.max(1000, ...[...webhooks.values()].flat().map((w) => w.timeoutMs));
}

/** Notifications claimed per round trip to the store. */
const CLAIM_LIMIT = 20;
/** The shortest wait between two passes, so that a store whose clock disagrees cannot spin the loop. */
const MIN_WAIT_MS = 20;

/**
 * Delivers the alert outbox: claims the notifications that are due, makes one attempt each (bounded
 * by the webhook's timeout), and settles them in the store: delivered, retried later with backoff
 * (or the receiver's Retry-After), or given up after the webhook's attempts. Everything lives in the
 * store, so any evaluator continues where another one stopped; claims keep two evaluators from
 * sending the same notification at once. Delivery is at least once: an attempt that reached the
 * receiver but whose answer was lost is made again, with the same id.
 */
export class NotificationDelivery {
  /** Passes run one after the other: a pass claims its owner's rows again, so two at once would attempt them twice. */
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** How long a claim keeps other evaluators off (`claimLeaseMs`). */
  readonly leaseMs: number;

  constructor(private readonly options: NotificationDeliveryOptions) {
    this.leaseMs = claimLeaseMs(options.webhooks);
  }

  /** The backfills whose notifications this process can send. */
  get backfills(): string[] {
    return [...this.options.webhooks.keys()];
  }

  /**
   * Attempts every notification due now, once each, until none is due. Resolves to the ms until the
   * next one is due (a retry, or another evaluator's claim expiring), or null when none is pending.
   */
  pass(): Promise<number | null> {
    const run = this.queue.then(() => this.passNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Delivers until nothing is pending or `budgetMs` has passed (one-shot evaluators, shutdown).
   * Resolves to the number of notifications left pending for the next evaluator.
   */
  async drain(budgetMs: number): Promise<number> {
    if (this.backfills.length === 0) return 0;
    const { clock } = this.options;
    const deadline = clock.now() + budgetMs;
    for (;;) {
      const next = await this.pass();
      if (next === null) return 0;
      if (clock.now() + next > deadline) break;
      await clock.sleep(Math.max(MIN_WAIT_MS, next));
    }
    const pending = await this.options.store.listNotifications({ state: 'pending' });
    return pending.filter((n) => this.options.webhooks.has(n.backfill)).length;
  }

  /** Runs a pass in the background now, then again whenever the next notification is due (long-running evaluators). */
  kick(): void {
    if (this.stopped || this.backfills.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pass().then(
      (next) => {
        if (next === null || this.stopped || this.timer) return;
        this.timer = setTimeout(() => this.kick(), Math.max(MIN_WAIT_MS, next));
        this.timer.unref();
      },
      (error: unknown) =>
        this.options.logger.warn(
          { err: error },
          `alert notification delivery failed: ${messageOf(error)}; the next evaluation tries again`,
        ),
    );
  }

  /** Stops the background passes and waits for the one in flight (its attempts are bounded by their timeouts). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.queue;
  }

  private async passNow(): Promise<number | null> {
    const { store, owner } = this.options;
    const backfills = this.backfills;
    if (backfills.length === 0) return null;
    for (;;) {
      const { claimed, nextDueInMs } = await store.claimNotifications({ owner, backfills, leaseMs: this.leaseMs, limit: CLAIM_LIMIT });
      if (claimed.length === 0) return nextDueInMs;
      await Promise.all(claimed.map((row) => this.attempt(row)));
    }
  }

  /** One attempt to one webhook, settled in the store. */
  private async attempt(row: OutboxRecord): Promise<void> {
    const { logger, notifier } = this.options;
    const where = {
      id: row.id,
      url: row.webhook,
      alert: `${row.backfill} ${row.notification.slo}/${row.notification.tier}`,
      state: row.notification.state,
    };
    const webhook = this.options.webhooks.get(row.backfill)?.find((w) => w.url === row.webhook);
    if (!webhook) {
      logger.error(where, `alert notification ${row.id} given up: ${row.webhook} is no longer a webhook of backfill ${row.backfill}`);
      await this.settle(row, { outcome: 'failed', error: 'the webhook is no longer configured' });
      return;
    }
    const attempt = row.attempts + 1;
    // A notifier that throws (one of the user's own) is a failed attempt, not a lost claim.
    const result = await notifier
      .attempt(webhook, row.notification)
      .catch((error: unknown): AttemptResult => ({ ok: false, retry: true, error: messageOf(error) }));
    if (result.ok) {
      logger.info({ ...where, attempt, status: result.status }, `alert notification ${row.id} delivered`);
      await this.settle(row, { outcome: 'delivered' });
    } else if (result.retry && attempt < webhook.attempts) {
      const retryInMs = result.retryAfterMs ?? this.backoff(attempt);
      logger.warn(
        { ...where, attempt, retryInMs },
        `alert notification ${row.id} not delivered (${result.error}); attempt ${attempt + 1} of ${webhook.attempts} in ${retryInMs} ms`,
      );
      await this.settle(row, { outcome: 'retry', retryInMs, error: result.error });
    } else {
      const why = result.retry ? `given up after ${attempt} attempts` : 'refused; not retried';
      logger.error({ ...where, attempt }, `alert notification ${row.id} ${why}: ${result.error}`);
      await this.settle(row, { outcome: 'failed', error: result.error });
    }
  }

  private async settle(row: OutboxRecord, settlement: OutboxSettlement): Promise<void> {
    const settled = await this.options.store.settleNotification(this.options.owner, row.id, row.webhook, settlement);
    // Our claim expired during the attempt and another evaluator took the notification over: it
    // makes its own attempt (the receiver may see the id twice, which is what the id is for).
    if (!settled)
      this.options.logger.warn(
        { id: row.id, url: row.webhook },
        `alert notification ${row.id}: another evaluator took it over during the attempt`,
      );
  }

  private backoff(attempt: number): number {
    const base = this.options.baseDelayMs ?? 1000;
    return Math.min(this.options.maxDelayMs ?? 60_000, base * 2 ** (attempt - 1));
  }
}
