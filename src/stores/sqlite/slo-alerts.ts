import type { NewNotification } from '../../core/slo/alert-outbox.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from '../../core/slo/alert-record.js';
import type { AlertState } from '../../core/slo/alert-state.js';
import type { SloAlerts } from '../../core/store.js';
import { type AlertEventRow, type AlertRow, toAlert, toAlertEvent } from '../shared/history-rows.js';
import type { SqliteStoreFile } from './store-file.js';

/** SLO alerts' states and their history; a change writes its notifications into the outbox in the same transaction. */
export class SqliteSloAlerts implements SloAlerts {
  constructor(private readonly file: SqliteStoreFile) {}

  async listAlerts(backfill?: string): Promise<AlertRecord[]> {
    return this.file.reading(() =>
      (
        this.file.read
          .prepare(`SELECT * FROM sluice_alerts ${backfill === undefined ? '' : 'WHERE backfill = ?'} ORDER BY backfill, slo, tier`)
          .all(...(backfill === undefined ? [] : [backfill])) as AlertRow[]
      ).map(toAlert),
    );
  }

  async changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean> {
    return this.file.writing(() =>
      this.file.writer
        .transaction(() => {
          const current = this.file.writer
            .prepare('SELECT state FROM sluice_alerts WHERE backfill = ? AND slo = ? AND tier = ?')
            .get(change.backfill, change.slo, change.tier) as { state: AlertState } | undefined;
          if ((current?.state ?? 'inactive') !== change.from) return false;
          const at = this.file.iso();
          if (change.from === change.to) {
            if (current) {
              this.file.writer
                .prepare(
                  'UPDATE sluice_alerts SET burn_long = ?, burn_short = ?, summary = ?, updated_at = ? WHERE backfill = ? AND slo = ? AND tier = ?',
                )
                .run(change.burnLong, change.burnShort, change.summary, at, change.backfill, change.slo, change.tier);
            }
            return true;
          }
          this.file.writer
            .prepare(`INSERT INTO sluice_alerts (backfill, slo, tier, severity, state, since_ms, burn_long, burn_short, summary, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (backfill, slo, tier) DO UPDATE SET severity = excluded.severity, state = excluded.state, since_ms = excluded.since_ms,
            burn_long = excluded.burn_long, burn_short = excluded.burn_short, summary = excluded.summary, updated_at = excluded.updated_at`)
            .run(
              change.backfill,
              change.slo,
              change.tier,
              change.severity,
              change.to,
              change.sinceMs,
              change.burnLong,
              change.burnShort,
              change.summary,
              at,
            );
          this.file.writer
            .prepare(`INSERT INTO sluice_alert_events (backfill, slo, tier, severity, from_state, to_state, burn_long, burn_short, summary, at_ms)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
            .run(
              change.backfill,
              change.slo,
              change.tier,
              change.severity,
              change.from,
              change.to,
              change.burnLong,
              change.burnShort,
              change.summary,
              change.sinceMs,
            );
          if (notify) {
            const now = this.file.now();
            const insert =
              this.file.writer.prepare(`INSERT INTO sluice_alert_notifications (id, webhook, backfill, payload, next_attempt_ms, claimed_by, claimed_until_ms, created_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
            for (const webhook of notify.webhooks) {
              insert.run(
                notify.notification.id,
                webhook,
                change.backfill,
                JSON.stringify(notify.notification),
                now,
                notify.owner,
                now + notify.leaseMs,
                now,
              );
            }
          }
          return true;
        })
        .immediate(),
    );
  }

  async listAlertEvents(
    filter: { backfill?: string; alert?: AlertKey; sinceMs?: number; untilMs?: number; limit?: number } = {},
  ): Promise<AlertEventRecord[]> {
    const where = ['at_ms >= ?', 'at_ms <= ?'];
    const params: unknown[] = [filter.sinceMs ?? 0, filter.untilMs ?? Number.MAX_SAFE_INTEGER];
    const backfill = filter.alert?.backfill ?? filter.backfill;
    if (backfill !== undefined) {
      where.push('backfill = ?');
      params.push(backfill);
    }
    if (filter.alert) {
      where.push('slo = ?', 'tier = ?');
      params.push(filter.alert.slo, filter.alert.tier);
    }
    return this.file.reading(() =>
      (
        this.file.read
          .prepare(`SELECT * FROM sluice_alert_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
          .all(...params, filter.limit ?? 1000) as AlertEventRow[]
      ).map(toAlertEvent),
    );
  }
}
