import type { NewNotification } from '../../core/slo/alert-outbox.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from '../../core/slo/alert-record.js';
import type { AlertState } from '../../core/slo/alert-state.js';
import type { SloAlerts } from '../../core/store.js';
import { type AlertEventRow, type AlertRow, toAlert, toAlertEvent } from '../shared/history-rows.js';
import { MS, type PostgresStoreSchema } from './store-schema.js';

/** SLO alerts' states and their history; a change writes its notifications into the outbox in the same transaction, under a lock on the alert. */
export class PostgresSloAlerts implements SloAlerts {
  constructor(private readonly db: PostgresStoreSchema) {}

  async listAlerts(backfill?: string): Promise<AlertRecord[]> {
    const { rows } = await this.db.q<AlertRow>(
      `SELECT backfill, slo, tier, severity, state, ${MS('since')} AS since_ms, burn_long, burn_short, summary, updated_at
        FROM ${this.db.t.alerts} ${backfill === undefined ? '' : 'WHERE backfill = $1'} ORDER BY backfill, slo, tier`,
      backfill === undefined ? [] : [backfill],
    );
    return rows.map(toAlert);
  }

  async changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean> {
    return this.db.inTransaction(async (client) => {
      // One row per alert, locked (or its key, when it does not exist yet) so that two evaluators move it once.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `sluice-alert:${this.db.schema}:${change.backfill}:${change.slo}:${change.tier}`,
      ]);
      const { rows } = await client.query<{ state: AlertState }>(
        `SELECT state FROM ${this.db.t.alerts} WHERE backfill = $1 AND slo = $2 AND tier = $3`,
        [change.backfill, change.slo, change.tier],
      );
      if ((rows[0]?.state ?? 'inactive') !== change.from) return false;
      if (change.from === change.to) {
        await client.query(
          `UPDATE ${this.db.t.alerts} SET burn_long = $4, burn_short = $5, summary = $6, updated_at = now() WHERE backfill = $1 AND slo = $2 AND tier = $3`,
          [change.backfill, change.slo, change.tier, change.burnLong, change.burnShort, change.summary],
        );
        return true;
      }
      const since = new Date(change.sinceMs);
      await client.query(
        `INSERT INTO ${this.db.t.alerts} (backfill, slo, tier, severity, state, since, burn_long, burn_short, summary)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
          ON CONFLICT (backfill, slo, tier) DO UPDATE SET severity = excluded.severity, state = excluded.state, since = excluded.since,
            burn_long = excluded.burn_long, burn_short = excluded.burn_short, summary = excluded.summary, updated_at = now()`,
        [change.backfill, change.slo, change.tier, change.severity, change.to, since, change.burnLong, change.burnShort, change.summary],
      );
      await client.query(
        `INSERT INTO ${this.db.t.alertEvents} (backfill, slo, tier, severity, from_state, to_state, burn_long, burn_short, summary, at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          change.backfill,
          change.slo,
          change.tier,
          change.severity,
          change.from,
          change.to,
          change.burnLong,
          change.burnShort,
          change.summary,
          since,
        ],
      );
      if (notify) {
        await client.query(
          `INSERT INTO ${this.db.t.outbox} (id, webhook, backfill, payload, claimed_by, claimed_until)
            SELECT $1, webhook, $2, $3, $4, now() + $5 * interval '1 millisecond' FROM unnest($6::text[]) AS webhook`,
          [notify.notification.id, change.backfill, JSON.stringify(notify.notification), notify.owner, notify.leaseMs, notify.webhooks],
        );
      }
      return true;
    });
  }

  async listAlertEvents(
    filter: { backfill?: string; alert?: AlertKey; sinceMs?: number; untilMs?: number; limit?: number } = {},
  ): Promise<AlertEventRecord[]> {
    const params: unknown[] = [new Date(filter.sinceMs ?? 0), new Date(Math.min(filter.untilMs ?? 8.64e15, 8.64e15))];
    const where = ['at >= $1', 'at <= $2'];
    const backfill = filter.alert?.backfill ?? filter.backfill;
    if (backfill !== undefined) {
      params.push(backfill);
      where.push(`backfill = $${params.length}`);
    }
    if (filter.alert) {
      params.push(filter.alert.slo, filter.alert.tier);
      where.push(`slo = $${params.length - 1}`, `tier = $${params.length}`);
    }
    params.push(filter.limit ?? 1000);
    const { rows } = await this.db.q<AlertEventRow>(
      `SELECT id, backfill, slo, tier, severity, from_state, to_state, burn_long, burn_short, summary, ${MS('at')} AS at_ms
        FROM ${this.db.t.alertEvents} WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return rows.map(toAlertEvent);
  }
}
