import type { QuarantineRecord } from '../../core/run.js';
import type { QuarantineReads, QuarantineFilter } from '../../core/store.js';
import type { QuarantineRow } from '../shared/run-rows.js';
import { decode, type SqliteStoreFile } from './store-file.js';

/** Reading the quarantine, on the read connection. */
export class SqliteQuarantineReads implements QuarantineReads {
  constructor(private readonly file: SqliteStoreFile) {}

  async listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]> {
    const where = ['id > ?'];
    const params: unknown[] = [filter.afterId ?? 0];
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
    return this.file.reading(() =>
      (
        this.file.read
          .prepare(`SELECT * FROM sluice_quarantine WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
          .all(...params, filter.limit ?? 100) as QuarantineRow[]
      ).map(decode.quarantine),
    );
  }

  async quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    const where = ["status = 'open'"];
    const params: unknown[] = [];
    if (filter.runId !== undefined) {
      where.push('run_id = ?');
      params.push(filter.runId);
    }
    if (filter.backfill !== undefined) {
      where.push('backfill = ?');
      params.push(filter.backfill);
    }
    return this.file.reading(
      () =>
        this.file.read
          .prepare(`SELECT error_class AS errorClass, COUNT(*) AS count FROM sluice_quarantine WHERE ${where.join(' AND ')}
          GROUP BY error_class ORDER BY count DESC, error_class`)
          .all(...params) as Array<{ errorClass: string; count: number }>,
    );
  }
}
