import type { QuarantineRecord, QuarantineStatus } from '../run.js';

/** Reading the quarantine (its entries are written by the batch commit), for operators and replays. */
export interface QuarantineReads {
  listQuarantine(filter: {
    runId?: string;
    backfill?: string;
    status?: QuarantineStatus;
    errorClass?: string;
    limit?: number;
    afterId?: number;
  }): Promise<QuarantineRecord[]>;
  /** Counts of open quarantine entries by error class. */
  quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>>;
}
