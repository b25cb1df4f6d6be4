import type { QuarantineRecord } from '../../core/run.js';
import type { SqlValue } from '../../core/sql.js';
import type { QuarantineFilter, QuarantineReads } from '../../core/store.js';
import type { QuarantineRow } from './run-rows.js';
import type { StoreStatements } from './store-statements.js';

/** Reading the quarantine, in either store (SQLite: on the read connection). */
export class StoreQuarantineReads implements QuarantineReads {
  constructor(private readonly db: StoreStatements) {}

  async listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]> {
    const where = ['id > ?'];
    const params: SqlValue[] = [filter.afterId ?? 0];
    for (const [column, value] of [
      ['run_id', filter.runId],
      ['backfill', filter.backfill],
      ['status', filter.status],
      ['error_class', filter.errorClass],
    ] as const) {
      if (value !== undefined) {
        where.push(`${column} = ?`);
        params.push(value);
      }
    }
    const rows = await this.db.read<QuarantineRow>(
      `SELECT * FROM ${this.db.t.quarantine} WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`,
      [...params, filter.limit ?? 100],
    );
    return rows.map(this.db.decode.quarantine);
  }

  async quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    const where = ["status = 'open'"];
    const params: SqlValue[] = [];
    if (filter.runId !== undefined) {
      where.push('run_id = ?');
      params.push(filter.runId);
    }
    if (filter.backfill !== undefined) {
      where.push('backfill = ?');
      params.push(filter.backfill);
    }
    // COUNT(*) is a bigint on PostgreSQL, read as a numeric string.
    const rows = await this.db.read<{ error_class: string; count: number | string }>(
      `SELECT error_class, COUNT(*) AS count FROM ${this.db.t.quarantine} WHERE ${where.join(' AND ')} GROUP BY error_class ORDER BY count DESC, error_class`,
      params,
    );
    return rows.map((r) => ({ errorClass: r.error_class, count: Number(r.count) }));
  }
}
