import type { VerificationRecord } from '../verify.js';

/** The results of verifying runs (do the targets hold what the runs wrote). */
export interface Verifications {
  recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void>;
  /** The run's verification results, oldest first. */
  listVerifications(runId: string): Promise<VerificationRecord[]>;
}
