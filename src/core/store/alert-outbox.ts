import type { ClaimedNotifications, OutboxClaim, OutboxRecord, OutboxSettlement, OutboxState } from '../slo/alert-outbox.js';

/** Alert notifications waiting to be delivered (written with an alert's change), claimed and settled by whoever delivers them. */
export interface AlertOutbox {
  /**
   * Claims up to `limit` pending notifications of `backfills` that are due (their next attempt has
   * come) and not claimed by another live claim, for `leaseMs`; the owner's own claims are claimed
   * again. Two evaluators claiming at once get disjoint rows.
   */
  claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications>;

  /** Replaces the body of a notification the owner still holds (every webhook's row). False when the claim was lost. */
  reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean>;

  /**
   * Records how an attempt to one webhook ended and releases the claim: delivered, failed for good,
   * or to retry in `retryInMs`. False (and nothing written) when another evaluator holds it now.
   */
  settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean>;

  /** Outbox rows, oldest first, optionally of one backfill or state. */
  listNotifications(filter?: { backfill?: string; state?: OutboxState; limit?: number }): Promise<OutboxRecord[]>;
}
