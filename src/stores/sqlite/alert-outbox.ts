import type { ClaimedNotifications, OutboxClaim, OutboxRecord, OutboxSettlement, OutboxState } from '../../core/slo/alert-outbox.js';
import type { AlertOutbox } from '../../core/store.js';
import { type OutboxRow, toOutbox } from '../shared/history-rows.js';
import type { SqliteStoreFile } from './store-file.js';

/** Alert notifications waiting to be delivered: claimed under the write lock, settled by their claimant. */
export class SqliteAlertOutbox implements AlertOutbox {
  constructor(private readonly file: SqliteStoreFile) {}

  async claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications> {
    // BEGIN IMMEDIATE takes the file's write lock: evaluators in other processes claim one after the other.
    return this.file.writing(() =>
      this.file.writer
        .transaction((): ClaimedNotifications => {
          const now = this.file.now();
          const backfills = JSON.stringify(claim.backfills);
          const claimed = (
            this.file.writer
              .prepare(`UPDATE sluice_alert_notifications SET claimed_by = ?, claimed_until_ms = ?
          WHERE rowid IN (SELECT rowid FROM sluice_alert_notifications
            WHERE state = 'pending' AND backfill IN (SELECT value FROM json_each(?)) AND next_attempt_ms <= ?
              AND (claimed_until_ms IS NULL OR claimed_until_ms <= ? OR claimed_by = ?)
            ORDER BY created_ms, id, webhook LIMIT ?)
          RETURNING *`)
              .all(claim.owner, now + claim.leaseMs, backfills, now, now, claim.owner, claim.limit) as OutboxRow[]
          ).map(toOutbox);
          const due = this.file.writer
            .prepare(`SELECT MIN(MAX(next_attempt_ms, COALESCE(claimed_until_ms, 0))) AS at FROM sluice_alert_notifications
          WHERE state = 'pending' AND backfill IN (SELECT value FROM json_each(?)) AND (claimed_by IS NULL OR claimed_by <> ?)`)
            .get(backfills, claim.owner) as { at: number | null };
          claimed.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id) || a.webhook.localeCompare(b.webhook));
          return { claimed, nextDueInMs: due.at === null ? null : Math.max(0, due.at - now) };
        })
        .immediate(),
    );
  }

  async reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean> {
    return this.file.writing(
      () =>
        this.file.writer
          .prepare(`UPDATE sluice_alert_notifications SET payload = ?
        WHERE id = ? AND claimed_by = ? AND claimed_until_ms > ? AND state = 'pending'`)
          .run(JSON.stringify(notification), id, owner, this.file.now()).changes > 0,
    );
  }

  async settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean> {
    const now = this.file.now();
    const state: OutboxState = settlement.outcome === 'retry' ? 'pending' : settlement.outcome;
    const error = settlement.outcome === 'delivered' ? null : settlement.error;
    const nextAttempt = settlement.outcome === 'retry' ? now + settlement.retryInMs : now;
    return this.file.writing(
      () =>
        this.file.writer
          .prepare(`UPDATE sluice_alert_notifications SET state = ?, attempts = attempts + 1, last_error = ?,
        next_attempt_ms = ?, settled_ms = ?, claimed_by = NULL, claimed_until_ms = NULL
        WHERE id = ? AND webhook = ? AND claimed_by = ? AND state = 'pending'`)
          .run(state, error, nextAttempt, state === 'pending' ? null : now, id, webhook, owner).changes > 0,
    );
  }

  async listNotifications(filter: { backfill?: string; state?: OutboxState; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.file.reading(() =>
      (
        this.file.read
          .prepare(`SELECT * FROM sluice_alert_notifications WHERE (? IS NULL OR backfill = ?) AND (? IS NULL OR state = ?)
        ORDER BY created_ms, id, webhook LIMIT ?`)
          .all(
            filter.backfill ?? null,
            filter.backfill ?? null,
            filter.state ?? null,
            filter.state ?? null,
            filter.limit ?? 1000,
          ) as OutboxRow[]
      ).map(toOutbox),
    );
  }
}
