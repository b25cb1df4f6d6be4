import type { ClaimedNotifications, OutboxClaim, OutboxRecord, OutboxSettlement, OutboxState } from '../../core/slo/alert-outbox.js';
import type { AlertOutbox } from '../../core/store.js';
import { type OutboxRow, toOutbox } from '../shared/history-rows.js';
import { MS, type PostgresStoreSchema } from './store-schema.js';

/** Alert notifications waiting to be delivered: claimed with `FOR UPDATE SKIP LOCKED`, settled by their claimant. */
export class PostgresAlertOutbox implements AlertOutbox {
  constructor(private readonly db: PostgresStoreSchema) {}

  async claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications> {
    // SKIP LOCKED: an evaluator claiming at the same instant passes over the rows this one is taking.
    const { rows } = await this.db.q<OutboxRow>(
      `WITH due AS (
        SELECT id, webhook FROM ${this.db.t.outbox}
        WHERE state = 'pending' AND backfill = ANY($2::text[]) AND next_attempt_at <= now()
          AND (claimed_until IS NULL OR claimed_until <= now() OR claimed_by = $1)
        ORDER BY created_at, id, webhook LIMIT $4 FOR UPDATE SKIP LOCKED)
      UPDATE ${this.db.t.outbox} o SET claimed_by = $1, claimed_until = now() + $3 * interval '1 millisecond'
        FROM due WHERE o.id = due.id AND o.webhook = due.webhook
      RETURNING o.id, o.webhook, o.backfill, o.payload, o.state, o.attempts, o.last_error, ${MS('o.created_at')} AS created_ms, ${MS('o.settled_at')} AS settled_ms`,
      [claim.owner, claim.backfills, claim.leaseMs, claim.limit],
    );
    const due = await this.db.q<{ in_ms: number | null }>(
      `SELECT ${MS('MIN(GREATEST(next_attempt_at, claimed_until))')} - ${MS('now()')} AS in_ms
        FROM ${this.db.t.outbox} WHERE state = 'pending' AND backfill = ANY($2::text[]) AND claimed_by IS DISTINCT FROM $1`,
      [claim.owner, claim.backfills],
    );
    const inMs = due.rows[0]?.in_ms ?? null;
    const claimed = rows
      .map(toOutbox)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id) || a.webhook.localeCompare(b.webhook));
    return { claimed, nextDueInMs: inMs === null ? null : Math.max(0, Math.ceil(Number(inMs))) };
  }

  async reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean> {
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.outbox} SET payload = $3 WHERE id = $1 AND claimed_by = $2 AND claimed_until > now() AND state = 'pending'`,
      [id, owner, JSON.stringify(notification)],
    );
    return (rowCount ?? 0) > 0;
  }

  async settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean> {
    const state: OutboxState = settlement.outcome === 'retry' ? 'pending' : settlement.outcome;
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.outbox} SET state = $4, attempts = attempts + 1, last_error = $5,
        next_attempt_at = now() + $6 * interval '1 millisecond', settled_at = CASE WHEN $4 = 'pending' THEN NULL ELSE now() END,
        claimed_by = NULL, claimed_until = NULL
      WHERE id = $1 AND webhook = $2 AND claimed_by = $3 AND state = 'pending'`,
      [
        id,
        webhook,
        owner,
        state,
        settlement.outcome === 'delivered' ? null : settlement.error,
        settlement.outcome === 'retry' ? settlement.retryInMs : 0,
      ],
    );
    return (rowCount ?? 0) > 0;
  }

  async listNotifications(filter: { backfill?: string; state?: OutboxState; limit?: number } = {}): Promise<OutboxRecord[]> {
    const { rows } = await this.db.q<OutboxRow>(
      `SELECT id, webhook, backfill, payload, state, attempts, last_error, ${MS('created_at')} AS created_ms, ${MS('settled_at')} AS settled_ms
        FROM ${this.db.t.outbox} WHERE ($1::text IS NULL OR backfill = $1) AND ($2::text IS NULL OR state = $2)
        ORDER BY created_at, id, webhook LIMIT $3`,
      [filter.backfill ?? null, filter.state ?? null, filter.limit ?? 1000],
    );
    return rows.map(toOutbox);
  }
}
