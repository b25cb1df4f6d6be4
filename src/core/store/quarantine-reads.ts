import type { QuarantineRecord, QuarantineStatus } from '../run.js';

/** Which quarantine entries to list: all given conditions hold; `afterId` pages on (entries come in id order). */
export interface QuarantineFilter {
  runId?: string;
  backfill?: string;
  status?: QuarantineStatus;
  errorClass?: string;
  limit?: number;
  afterId?: number;
}

/** Reading the quarantine (its entries are written by the batch commit), for operators and replays. */
export interface QuarantineReads {
  listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]>;
  /** Counts of open quarantine entries by error class. */
  quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>>;
}
