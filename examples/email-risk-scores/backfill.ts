import { coverage, defineBackfill, sqlKeyset } from 'sluice';

export interface Email {
  id: number;
  sender: string;
  subject: string;
  body: string;
  received_at: string;
}

/** Seed 000's scorer, deterministic: the same email always gets the same score. */
export function riskScore(email: Email): number {
  let score = /bank|promo|gift/.test(email.sender) ? 0.4 : 0;
  for (const word of ['urgent', 'password', 'verify', 'refund']) if (email.subject.toLowerCase().includes(word)) score += 0.1;
  score += Math.min(0.3, (email.body.match(/click|link|wire/g) ?? []).length * 0.05);
  return Math.round(Math.min(1, score) * 1000) / 1000;
}

/**
 * Seed 000: fill the NULL `risk_score` column of `emails` in batches, transactionally (the UPDATEs
 * and the checkpoint commit together), with its p95 batch-duration SLO (< 300 s) and a coverage check.
 */
export const emailRiskScores = defineBackfill<Email>({
  name: 'email-risk-scores',
  description: 'score every email whose risk_score is NULL',
  source: sqlKeyset({
    table: 'emails',
    key: 'id',
    columns: ['id', 'sender', 'subject', 'body', 'received_at'],
    where: 'risk_score IS NULL',
    sinceColumn: 'received_at',
  }),
  delivery: 'transactional',
  batchSize: 500,
  slo: {
    objectives: [
      {
        name: 'batch-duration',
        description: 'p95 batch duration under 5 minutes (seed 000)',
        sli: { kind: 'batch-duration', thresholdSeconds: 300 },
        objective: 0.95,
        tiers: [{ name: 'p95-over-15m', severity: 'page', burnRate: 1, longWindow: '15m', for: '30m' }],
      },
    ],
  },
  verify: [coverage({ name: 'coverage', table: 'emails', done: 'risk_score IS NOT NULL' })],
  async process(emails, ctx) {
    await ctx.tx!.executeMany(
      'UPDATE emails SET risk_score = ?, score_writes = score_writes + 1 WHERE id = ?',
      emails.map((e) => [riskScore(e), e.id]),
    );
  },
});
