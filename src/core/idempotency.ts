import { createHash } from 'node:crypto';
import type { ItemKey } from './cursor.js';

/**
 * The idempotency key handed to external sinks: a hash of the ledger namespace and the item key,
 * so it is the same on every run, re-run and worker, and fits the 64-character limits of most APIs.
 */
export function idempotencyKeyFor(namespace: string, itemKey: ItemKey): string {
  const digest = createHash('sha256').update(namespace).update('\u0000').update(itemKey).digest('hex').slice(0, 40);
  return `${namespace.slice(0, 20)}-${digest}`;
}
