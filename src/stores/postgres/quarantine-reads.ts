import type { QuarantineRecord } from '../../core/run.js';
import type { QuarantineReads, QuarantineFilter } from '../../core/store.js';
import type { QuarantineRow } from '../shared/run-rows.js';
import { decode, type PostgresStoreSchema } from './store-schema.js';

/** Reading the quarantine. */
export class PostgresQuarantineReads implements QuarantineReads {
  constructor(private readonly db: PostgresStoreSchema) {}

  async listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]> {
    const where = ['id > $1'];
    const params: unknown[] = [filter.afterId ?? 0];
    for (const [column, value] of [
      ['run_id', filter.runId],
      ['backfill', filter.backfill],
      ['status', filter.status],
      ['error_class', filter.errorClass],
    ] as const) {
      if (value !== undefined) {
        params.push(value);
        where.push(`${column} = $${params.length}`);
      }
    }
    params.push(filter.limit ?? 100);
    const { rows } = await this.db.q<QuarantineRow>(
      `SELECT * FROM ${this.db.t.quarantine} WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return rows.map(decode.quarantine);
  }

  async quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    const where = ["status = 'open'"];
    const params: unknown[] = [];
    if (filter.runId !== undefined) {
      params.push(filter.runId);
      where.push(`run_id = $${params.length}`);
    }
    if (filter.backfill !== undefined) {
      params.push(filter.backfill);
      where.push(`backfill = $${params.length}`);
    }
    const { rows } = await this.db.q<{ error_class: string; count: string }>(
      `SELECT error_class, COUNT(*) AS count FROM ${this.db.t.quarantine} WHERE ${where.join(' AND ')} GROUP BY error_class ORDER BY count DESC, error_class`,
      params,
    );
    return rows.map((r) => ({ errorClass: r.error_class, count: Number(r.count) }));
  }
}
