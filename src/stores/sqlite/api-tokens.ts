import type { TokenRecord } from '../../core/run.js';
import type { ApiTokens } from '../../core/store.js';
import { type TokenRow, toToken } from '../shared/history-rows.js';
import type { SqliteStoreFile } from './store-file.js';

/** The admin API's tokens in the store file. */
export class SqliteApiTokens implements ApiTokens {
  constructor(private readonly file: SqliteStoreFile) {}

  async createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    const createdAt = this.file.iso();
    await this.file.writing(() =>
      this.file.write
        .prepare('INSERT INTO sluice_tokens (id, name, scope, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(token.id, token.name, token.scope, token.hash, token.createdBy, createdAt),
    );
    return { ...token, createdAt, revokedAt: null };
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.file.reading(() => this.file.read.prepare('SELECT * FROM sluice_tokens WHERE id = ?').get(id) as TokenRow | undefined);
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.file.reading(() =>
      (this.file.read.prepare('SELECT * FROM sluice_tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken),
    );
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.file.writing(
      () =>
        this.file.write.prepare('UPDATE sluice_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.file.iso(), id)
          .changes > 0,
    );
  }
}
