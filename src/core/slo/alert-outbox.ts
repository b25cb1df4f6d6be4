import type { AlertNotification } from './alert-notification.js';

/**
 * The alert outbox: a notification is written in the same store transaction as the alert's
 * transition, one row per webhook, and stays there until an evaluator delivers it (or gives up on
 * it after the webhook's attempts). A process that dies before delivering leaves it for the next.
 */
export type OutboxState = 'pending' | 'delivered' | 'failed';

/** One notification for one webhook, as the outbox keeps it. */
export interface OutboxRecord {
  /** The notification's stable id (also in its body): the same on every attempt, so receivers can drop repeats. */
  id: string;
  /** The webhook's URL; its secret stays in the definition, never in the store. */
  webhook: string;
  backfill: string;
  notification: AlertNotification;
  state: OutboxState;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  /** When it was delivered or given up. */
  settledAt: string | null;
}

/** What to record with an alert's transition: already claimed by the evaluator that moves the alert, which delivers it first. */
export interface NewNotification {
  notification: AlertNotification;
  /** One row per URL. */
  webhooks: readonly string[];
  owner: string;
  leaseMs: number;
}

/** Claims due notifications of some backfills (those whose webhooks the evaluator knows). */
export interface OutboxClaim {
  owner: string;
  backfills: readonly string[];
  /** How long the claim keeps other evaluators off (longer than one attempt may take). */
  leaseMs: number;
  limit: number;
}

export interface ClaimedNotifications {
  claimed: OutboxRecord[];
  /** In how many ms the next pending notification of those backfills (not claimed here) is due; null when none is pending. */
  nextDueInMs: number | null;
}

/** How an attempt ended. */
export type OutboxSettlement =
  | { outcome: 'delivered' }
  | { outcome: 'retry'; retryInMs: number; error: string }
  | { outcome: 'failed'; error: string };
