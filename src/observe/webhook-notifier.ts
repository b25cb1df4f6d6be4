import { createHmac, timingSafeEqual } from 'node:crypto';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AlertNotification } from '../core/slo/alert-notification.js';
import type { AlertNotifier } from '../core/slo/monitor.js';
import type { Webhook } from '../core/slo/slo.js';

export interface WebhookNotifierOptions {
  logger: Logger;
  /** First retry delay; doubles per attempt (capped at 60 s). Default 1000 ms. */
  baseDelayMs?: number;
  /** Per-attempt timeout. Default 10 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed too, so a captured request cannot be replayed later. */
export const SIGNATURE_HEADER = 'x-sluice-signature';

export function sign(secret: string, body: string, timestampSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

/**
 * For receivers: true when `header` signs `body` with `secret` and is at most `toleranceSeconds`
 * old. Compares in constant time.
 */
export function verifySignature(secret: string, header: string, body: string, options: { toleranceSeconds?: number; nowSeconds?: number } = {}): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const t = Number(match[1]);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(sign(secret, body, t).slice(-64), 'hex');
  const given = Buffer.from(match[2]!, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * POSTs alert notifications as JSON to webhooks, signed when the webhook has a secret. Retries
 * network errors, 5xx and 429 (honouring Retry-After) with exponential backoff; a 4xx other than
 * 429 is the receiver refusing the request and is not retried. Never throws: failures are logged.
 */
export class WebhookNotifier implements AlertNotifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: WebhookNotifierOptions) {}

  notify(webhooks: readonly Webhook[], notification: AlertNotification): void {
    for (const webhook of webhooks) {
      const delivery = this.deliver(webhook, notification).finally(() => this.pending.delete(delivery));
      this.pending.add(delivery);
    }
  }

  /** Waits for deliveries in flight (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async deliver(webhook: Webhook, notification: AlertNotification): Promise<void> {
    const { logger } = this.options;
    const secret = webhook.secretEnv !== undefined ? (this.options.env ?? process.env)[webhook.secretEnv] : webhook.secret;
    const where = { url: webhook.url, alert: `${notification.slo}/${notification.tier}`, state: notification.state };
    if (webhook.secretEnv !== undefined && !secret) {
      logger.error(where, `alert webhook not sent: its signing secret's environment variable ${webhook.secretEnv} is not set`);
      return;
    }
    const body = JSON.stringify({ version: 1, kind: 'sluice.slo.alert', ...notification });
    const base = this.options.baseDelayMs ?? 1000;
    for (let attempt = 1; attempt <= webhook.attempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'sluice-alerts/1' };
        if (secret) headers[SIGNATURE_HEADER] = sign(secret, body, Math.floor(Date.now() / 1000));
        const response = await fetch(webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) {
          logger.info({ ...where, attempt }, 'alert webhook delivered');
          return;
        }
        if (response.status !== 429 && response.status < 500) {
          logger.error({ ...where, status: response.status }, `alert webhook refused with HTTP ${response.status}; not retried`);
          return;
        }
        const header = Number(response.headers.get('retry-after'));
        if (Number.isFinite(header) && header > 0) retryAfterMs = Math.min(60_000, header * 1000);
        logger.warn({ ...where, attempt, status: response.status }, `alert webhook answered HTTP ${response.status}`);
      } catch (error) {
        logger.warn({ ...where, attempt }, `alert webhook failed: ${messageOf(error)}`);
      }
      if (attempt < webhook.attempts) await new Promise((resolve) => setTimeout(resolve, retryAfterMs ?? Math.min(60_000, base * 2 ** (attempt - 1))));
    }
    logger.error(where, `alert webhook given up after ${webhook.attempts} attempts`);
  }
}
