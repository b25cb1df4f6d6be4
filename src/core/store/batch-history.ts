import type { BatchRecord, BatchWindow } from '../run.js';

/** The committed batches (written with each checkpoint), read by SLOs, reports and the dashboard. */
export interface BatchHistory {
  /** The run's committed batches in commit order (`afterId` pages on). */
  listBatches(runId: string, options?: { afterId?: number; limit?: number }): Promise<BatchRecord[]>;

  /** The backfill's batches whose checkpoints were written at or after `sinceMs`, summed. */
  batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow>;
}
