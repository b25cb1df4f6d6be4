import type { BatchRecord, BatchWindow } from '../../core/run.js';
import type { BatchHistory } from '../../core/store.js';
import { type BatchRow, toBatch } from '../shared/history-rows.js';
import type { SqliteStoreFile } from './store-file.js';

/** The committed batches. Checkpoints buffer their rows in the store file (see `SqliteStoreFile.history`); a read writes what waits first. */
export class SqliteBatchHistory implements BatchHistory {
  constructor(private readonly file: SqliteStoreFile) {}

  async listBatches(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<BatchRecord[]> {
    await this.file.flushHistory();
    return this.file.reading(() =>
      (
        this.file.read
          .prepare('SELECT * FROM sluice_batches WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?')
          .all(runId, options.afterId ?? 0, options.limit ?? 1_000_000) as BatchRow[]
      ).map(toBatch),
    );
  }

  async batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow> {
    await this.file.flushHistory();
    return this.file.reading(() => {
      const row = this.file.read
        .prepare(`SELECT COUNT(*) AS batches, COALESCE(SUM(duration_ms > ?), 0) AS slowBatches,
          COALESCE(SUM(received), 0) AS items, COALESCE(SUM(quarantined), 0) AS badItems
        FROM sluice_batches WHERE backfill = ? AND finished_ms >= ?`)
        .get(slowAboveMs, backfill, sinceMs) as BatchWindow;
      return { batches: row.batches, slowBatches: row.slowBatches, items: row.items, badItems: row.badItems };
    });
  }
}
