import type { TokenRecord } from '../run.js';

/** The admin API's tokens, read on every authenticated request and managed by operators. */
export interface ApiTokens {
  createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Marks a token revoked; false when there is no such token or it was revoked already. */
  revokeToken(id: string): Promise<boolean>;
}
