import type { BatchRecord, BatchWindow } from '../../core/run.js';
import type { BatchHistory } from '../../core/store.js';
import { type BatchRow, toBatch } from '../shared/history-rows.js';
import { MS, type PostgresStoreSchema } from './store-schema.js';

/** The committed batches, written by the checkpoint's own statement. */
export class PostgresBatchHistory implements BatchHistory {
  constructor(private readonly db: PostgresStoreSchema) {}

  async listBatches(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<BatchRecord[]> {
    const { rows } = await this.db.q<BatchRow>(
      `SELECT id, run_id, backfill, partition_idx, worker, ${MS('finished_at')} AS finished_ms, duration_ms,
        received, processed, skipped, failed, quarantined, retries FROM ${this.db.t.batches} WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [runId, options.afterId ?? 0, options.limit ?? 1_000_000],
    );
    return rows.map(toBatch);
  }

  async batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow> {
    const { rows } = await this.db.q<{ batches: string; slow: string; items: string; bad: string }>(
      `SELECT COUNT(*) AS batches, COUNT(*) FILTER (WHERE duration_ms > $3::double precision) AS slow, COALESCE(SUM(received), 0) AS items, COALESCE(SUM(quarantined), 0) AS bad
        FROM ${this.db.t.batches} WHERE backfill = $1 AND finished_at >= to_timestamp($2::double precision / 1000)`,
      [backfill, sinceMs, slowAboveMs],
    );
    const row = rows[0]!;
    return { batches: Number(row.batches), slowBatches: Number(row.slow), items: Number(row.items), badItems: Number(row.bad) };
  }
}
