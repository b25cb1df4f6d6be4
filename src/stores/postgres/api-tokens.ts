import type { TokenRecord } from '../../core/run.js';
import type { ApiTokens } from '../../core/store.js';
import { type TokenRow, toToken } from '../shared/history-rows.js';
import type { PostgresStoreSchema } from './store-schema.js';

/** The admin API's tokens in the store's schema. */
export class PostgresApiTokens implements ApiTokens {
  constructor(private readonly db: PostgresStoreSchema) {}

  async createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    const { rows } = await this.db.q<TokenRow>(
      `INSERT INTO ${this.db.t.tokens} (id, name, scope, hash, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [token.id, token.name, token.scope, token.hash, token.createdBy],
    );
    return toToken(rows[0]!);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.db.q<TokenRow>(`SELECT * FROM ${this.db.t.tokens} WHERE id = $1`, [id]);
    return rows[0] && toToken(rows[0]);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const { rows } = await this.db.q<TokenRow>(`SELECT * FROM ${this.db.t.tokens} ORDER BY created_at, id`);
    return rows.map(toToken);
  }

  async revokeToken(id: string): Promise<boolean> {
    const { rowCount } = await this.db.q(`UPDATE ${this.db.t.tokens} SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
    return (rowCount ?? 0) > 0;
  }
}
