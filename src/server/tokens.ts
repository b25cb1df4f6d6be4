import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UsageError } from '../core/errors.js';
import type { TokenRecord, TokenScope } from '../core/run.js';
import type { ApiTokens } from '../core/store.js';

/** API token scopes, each granting what the one before grants: read, then write, then admin. */
export const SCOPES: readonly TokenScope[] = ['read', 'write', 'admin'];

/** `read` < `write` < `admin`: a token may do what its scope or a lower one allows. */
export function allows(granted: TokenScope, needed: TokenScope): boolean {
  return SCOPES.indexOf(granted) >= SCOPES.indexOf(needed);
}

/**
 * Tokens look like `slc_<id>_<secret>`: the id finds the stored row, the secret (32 random bytes)
 * is checked against its SHA-256 in constant time. A high-entropy secret needs no slow hash; the
 * store never holds the secret itself, so a copy of the store grants nothing.
 */
const FORMAT = /^slc_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function hashOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export async function createToken(
  store: ApiTokens,
  input: { name: string; scope: TokenScope; createdBy: string },
): Promise<{ token: string; record: TokenRecord }> {
  if (!SCOPES.includes(input.scope))
    throw new UsageError(`\`scope\` must be read, write or admin, got "${input.scope}"`, { details: { options: ['scope'] } });
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/.test(input.name))
    throw new UsageError(`a token name must be 1-64 letters, digits, spaces, ".", "_", "@" or "-", got "${input.name}"`);
  const id = randomBytes(12)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  const record = await store.createToken({ id, name: input.name, scope: input.scope, hash: hashOf(secret), createdBy: input.createdBy });
  return { token: `slc_${id}_${secret}`, record };
}

/** The token's record when `presented` is a live token of this store; undefined otherwise (never says why, to the caller). */
export async function verifyToken(store: ApiTokens, presented: string): Promise<TokenRecord | undefined> {
  const match = FORMAT.exec(presented);
  if (!match) return undefined;
  const record = await store.getToken(match[1]!);
  if (!record || record.revokedAt !== null) return undefined;
  const expected = Buffer.from(record.hash, 'hex');
  const given = Buffer.from(hashOf(match[2]!), 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given) ? record : undefined;
}
