import type { NewNotification } from '../slo/alert-outbox.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from '../slo/alert-record.js';

/** SLO alerts' states and their history, moved by the SLO monitor. */
export interface SloAlerts {
  /** Alerts that ever left `inactive`, of one backfill or all. */
  listAlerts(backfill?: string): Promise<AlertRecord[]>;

  /**
   * Moves an alert from `change.from` to `change.to` (compare-and-set: false when another process
   * moved it first) and records the event when the state changes. With `from === to` it only
   * refreshes the burn rates and summary. `notify` goes into the outbox in the same transaction
   * when the state changes (claimed by `notify.owner`), and never otherwise.
   */
  changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean>;

  /** Alert state changes, oldest first, optionally of one backfill, alert or time range (ms). */
  listAlertEvents(filter?: {
    backfill?: string;
    alert?: AlertKey;
    sinceMs?: number;
    untilMs?: number;
    limit?: number;
  }): Promise<AlertEventRecord[]>;
}
