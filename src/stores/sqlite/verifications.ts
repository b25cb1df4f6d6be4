import type { Verifications } from '../../core/store.js';
import type { VerificationRecord } from '../../core/verify.js';
import type { VerificationRow } from '../shared/run-rows.js';
import { decode, type SqliteStoreFile } from './store-file.js';

/** The results of verifying runs. */
export class SqliteVerifications implements Verifications {
  constructor(private readonly file: SqliteStoreFile) {}

  async recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    await this.file.writing(() =>
      this.file.write
        .prepare('INSERT INTO sluice_verifications (run_id, check_name, passed, detail, actor, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(result.runId, result.check, result.passed ? 1 : 0, result.detail, result.actor, this.file.iso()),
    );
  }

  async listVerifications(runId: string): Promise<VerificationRecord[]> {
    return this.file.reading(() =>
      (this.file.read.prepare('SELECT * FROM sluice_verifications WHERE run_id = ? ORDER BY id').all(runId) as VerificationRow[]).map(
        decode.verification,
      ),
    );
  }
}
