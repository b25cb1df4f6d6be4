import type { TokenRecord } from '../../core/run.js';
import type { ApiTokens } from '../../core/store.js';
import { type TokenRow, toToken } from './history-rows.js';
import type { StoreStatements } from './store-statements.js';

/** The admin API's tokens, in either store. */
export class StoreApiTokens implements ApiTokens {
  constructor(private readonly db: StoreStatements) {}

  async createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    const now = this.db.now();
    const [row] = await this.db.writeReturning<TokenRow>(
      `INSERT INTO ${this.db.t.tokens} (id, name, scope, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ${now.sql}) RETURNING *`,
      [token.id, token.name, token.scope, token.hash, token.createdBy, ...now.params],
    );
    return toToken(row!);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.db.read<TokenRow>(`SELECT * FROM ${this.db.t.tokens} WHERE id = ?`, [id]);
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.db.read<TokenRow>(`SELECT * FROM ${this.db.t.tokens} ORDER BY created_at, id`)).map(toToken);
  }

  async revokeToken(id: string): Promise<boolean> {
    const now = this.db.now();
    const changed = await this.db.write(`UPDATE ${this.db.t.tokens} SET revoked_at = ${now.sql} WHERE id = ? AND revoked_at IS NULL`, [
      ...now.params,
      id,
    ]);
    return changed > 0;
  }
}
