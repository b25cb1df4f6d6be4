import type { Verifications } from '../../core/store.js';
import type { VerificationRecord } from '../../core/verify.js';
import type { VerificationRow } from '../shared/run-rows.js';
import { decode, type PostgresStoreSchema } from './store-schema.js';

/** The results of verifying runs. */
export class PostgresVerifications implements Verifications {
  constructor(private readonly db: PostgresStoreSchema) {}

  async recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    await this.db.q(`INSERT INTO ${this.db.t.verifications} (run_id, check_name, passed, detail, actor) VALUES ($1, $2, $3, $4, $5)`, [
      result.runId,
      result.check,
      result.passed,
      result.detail,
      result.actor,
    ]);
  }

  async listVerifications(runId: string): Promise<VerificationRecord[]> {
    const { rows } = await this.db.q<VerificationRow>(`SELECT * FROM ${this.db.t.verifications} WHERE run_id = $1 ORDER BY id`, [runId]);
    return rows.map(decode.verification);
  }
}
