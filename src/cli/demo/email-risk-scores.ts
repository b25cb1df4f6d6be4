import { coverage, defineBackfill, sqlKeyset, uniqueness } from '../../index.js';

/** A row of the demo's `emails` table, as the backfill reads it. */
export interface DemoEmail {
  id: number;
  sender: string;
  subject: string;
  body: string;
  link_count: number;
  received_at: string;
}

const RISKY_DOMAINS = ['bank-secure-login.info', 'promo-deals.biz', 'free-gift.win'];
const RISKY_WORDS = ['urgent', 'password', 'reset', 'winner', 'verify', 'refund', 'security', 'offer'];
const RISKY_BODY = ['click', 'link', 'confirm', 'wire', 'transfer', 'gift', 'card'];

/** A deterministic risk score in [0, 1]: the same email always gets the same score. */
export function riskScore(email: DemoEmail): number {
  const domain = email.sender.slice(email.sender.indexOf('@') + 1);
  let score = RISKY_DOMAINS.includes(domain) ? 0.35 : 0;
  const subject = email.subject.toLowerCase();
  for (const word of RISKY_WORDS) if (subject.includes(word)) score += 0.1;
  let bodyHits = 0;
  for (const word of email.body.split(' ')) if (RISKY_BODY.includes(word)) bodyHits += 1;
  score += Math.min(0.25, bodyHits * 0.03) + Math.min(0.2, email.link_count * 0.04);
  // A little hash of the body stands in for a model's own noise, so scores are not all ties.
  let hash = 0;
  for (let i = 0; i < email.body.length; i++) hash = (hash * 31 + email.body.charCodeAt(i)) | 0;
  score += ((hash >>> 0) % 100) / 2000;
  return Math.round(Math.min(1, score) * 1000) / 1000;
}

export const DEMO_BACKFILL_NAME = 'demo-email-risk-scores';

/**
 * The demo backfill (seed 000's shape): fill a NULL `risk_score` column over a table in batches.
 * The table lives in the store's own SQLite file, so the UPDATEs and the checkpoint commit in one
 * transaction: after any number of kills and restarts every row has `score_writes = 1`.
 */
export const demoBackfill = defineBackfill<DemoEmail>({
  name: DEMO_BACKFILL_NAME,
  description: 'score the risk of every email whose risk_score is NULL',
  source: sqlKeyset({
    table: 'emails',
    key: 'id',
    columns: ['id', 'sender', 'subject', 'body', 'link_count', 'received_at'],
    where: 'risk_score IS NULL',
    sinceColumn: 'received_at',
  }),
  delivery: 'transactional',
  batchSize: 1000,
  // Seed 000's objective: 95 % of batches under 300 s (its p95 < 5 min), and at most 1 % of items
  // quarantined; the default burn-rate tiers page on a fast burn and open a ticket on a slow one.
  slo: {
    objectives: [
      {
        name: 'batch-duration',
        description: 'p95 batch duration under 300 s',
        sli: { kind: 'batch-duration', thresholdSeconds: 300 },
        objective: 0.95,
      },
      { name: 'errors', description: 'at most 1 % of items quarantined', sli: { kind: 'error-ratio' }, objective: 0.99 },
    ],
  },
  // `sluice verify <run>`: every email scored (seed 000's coverage), each written once.
  verify: [
    coverage({ name: 'every email scored', table: 'emails', done: 'risk_score IS NOT NULL' }),
    coverage({ name: 'each score written once', table: 'emails', done: 'score_writes = 1', where: 'risk_score IS NOT NULL' }),
    uniqueness({ table: 'emails', columns: ['id'] }),
  ],
  async process(emails, ctx) {
    await ctx.tx!.executeMany(
      'UPDATE emails SET risk_score = ?, score_writes = score_writes + 1 WHERE id = ?',
      emails.map((email) => [riskScore(email), email.id]),
    );
  },
});

/** The demo definition under the name the CLI and tests import it by. */
export const DEMO_BACKFILL = demoBackfill;
