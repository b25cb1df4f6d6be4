import type { Verifications } from '../../core/store.js';
import type { VerificationRecord } from '../../core/verify.js';
import type { VerificationRow } from './run-rows.js';
import type { StoreStatements } from './store-statements.js';

/** The results of verifying runs, in either store. */
export class StoreVerifications implements Verifications {
  constructor(private readonly db: StoreStatements) {}

  async recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    const now = this.db.now();
    await this.db.write(
      `INSERT INTO ${this.db.t.verifications} (run_id, check_name, passed, detail, actor, at) VALUES (?, ?, ?, ?, ?, ${now.sql})`,
      [result.runId, result.check, result.passed, result.detail, result.actor, ...now.params],
    );
  }

  async listVerifications(runId: string): Promise<VerificationRecord[]> {
    const rows = await this.db.read<VerificationRow>(`SELECT * FROM ${this.db.t.verifications} WHERE run_id = ? ORDER BY id`, [runId]);
    return rows.map(this.db.decode.verification);
  }
}
