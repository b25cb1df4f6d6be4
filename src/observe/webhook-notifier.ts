import { createHmac, timingSafeEqual } from 'node:crypto';
import { messageOf } from '../core/errors.js';
import type { AlertNotification } from '../core/slo/alert-notification.js';
import type { AlertNotifier, AttemptResult } from '../core/slo/notification-delivery.js';
import type { Webhook } from '../core/slo/slo.js';

export interface WebhookNotifierOptions {
  /** Where the signing secrets named by `secretEnv` are read. Default `process.env`. */
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
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const t = Number(match[1]);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(sign(secret, body, t).slice(-64), 'hex');
  const given = Buffer.from(match[2]!, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Carries the notification's stable id, also in the body: receivers drop a repeat they have seen. */
export const NOTIFICATION_ID_HEADER = 'x-sluice-notification-id';

/**
 * POSTs an alert notification as JSON to a webhook, signed when the webhook has a secret, within
 * the webhook's timeout: one attempt. Network errors, timeouts, 5xx and 429 (with its Retry-After)
 * are worth retrying; another 4xx is the receiver refusing the request. The outbox's delivery
 * decides when to retry. Never throws.
 */
export class WebhookNotifier implements AlertNotifier {
  constructor(private readonly options: WebhookNotifierOptions = {}) {}

  async attempt(webhook: Webhook, notification: AlertNotification): Promise<AttemptResult> {
    const secret = webhook.secretEnv !== undefined ? (this.options.env ?? process.env)[webhook.secretEnv] : webhook.secret;
    // Another evaluator may have the variable set: worth a retry (by it), not a request without the signature.
    if (webhook.secretEnv !== undefined && !secret)
      return { ok: false, retry: true, error: `the signing secret's environment variable ${webhook.secretEnv} is not set here` };
    const body = JSON.stringify({ version: 1, kind: 'sluice.slo.alert', ...notification });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'sluice-alerts/1',
      [NOTIFICATION_ID_HEADER]: notification.id,
    };
    if (secret) headers[SIGNATURE_HEADER] = sign(secret, body, Math.floor(Date.now() / 1000));
    try {
      const response = await fetch(webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(webhook.timeoutMs) });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return { ok: true, status: response.status };
      const error = `HTTP ${response.status}`;
      if (response.status !== 429 && response.status < 500) return { ok: false, retry: false, error };
      const retryAfter = Number(response.headers.get('retry-after'));
      return {
        ok: false,
        retry: true,
        error,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: Math.min(60_000, retryAfter * 1000) } : {}),
      };
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      return { ok: false, retry: true, error: timedOut ? `no answer within ${webhook.timeoutMs} ms` : networkError(error) };
    }
  }
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND …) is in its cause. */
function networkError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const reason = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  return reason ? `${messageOf(error)}: ${reason}` : messageOf(error);
}
