// Seed 000 end to end: `npx tsx examples/email-risk-scores/run.ts [--db postgres://…] [--rows N] [--since 7d] [--max-batches N]`
import { emailRiskScores } from './backfill.js';
import { flags, openExample, prng, report, tableExists, write } from '../shared/example.js';

const args = flags(
  { rows: { type: 'string' }, since: { type: 'string' }, 'max-batches': { type: 'string' }, 'batch-size': { type: 'string' } },
  'run.ts [--db FILE|postgres://…] [--rows 20000] [--since 7d] [--max-batches N] [--batch-size N]',
);
const rows = Number(args.rows ?? 20_000);
const example = await openExample(args.db as string | undefined, '.sluice/email-risk-scores.db', [emailRiskScores]);
try {
  if (!(await tableExists(example, 'emails'))) {
    const random = prng(42);
    const now = Date.now();
    const senders = ['alice@example.com', 'billing@bank-secure.info', 'deals@promo.biz', 'team@corp.internal'];
    const subjects = ['Weekly report', 'URGENT: verify your password', 'Lunch?', 'Refund available', 'Meeting notes'];
    const values = Array.from({ length: rows }, (_, i) => [
      i + 1,
      senders[Math.floor(random() * 4)],
      subjects[Math.floor(random() * 5)],
      random() < 0.3 ? 'click the link to wire the gift' : 'see you tomorrow',
      new Date(now - (rows - i) * 60_000 * 10).toISOString(),
    ]);
    await write(example.store, [
      'CREATE TABLE emails (id INTEGER PRIMARY KEY, sender TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL, risk_score REAL, score_writes INTEGER NOT NULL DEFAULT 0)',
      ['INSERT INTO emails (id, sender, subject, body, received_at) VALUES (?, ?, ?, ?, ?)', values],
    ]);
  }
  const handle = await example.sluice.start('email-risk-scores', {
    ...(args.since ? { since: args.since as string } : {}),
    ...(args['max-batches'] ? { maxBatches: Number(args['max-batches']) } : {}),
    ...(args['batch-size'] ? { batchSize: Number(args['batch-size']) } : {}),
  });
  const outcome = await handle.done;
  const [coverage] = await example.sql.query<{ scored: number; total: number; over: number }>(
    'SELECT SUM(CASE WHEN risk_score IS NOT NULL THEN 1 ELSE 0 END) AS scored, COUNT(*) AS total, SUM(CASE WHEN score_writes > 1 THEN 1 ELSE 0 END) AS over FROM emails',
  );
  const scored = Number(coverage!.scored);
  const total = Number(coverage!.total);
  report('outcome', {
    runId: outcome.runId,
    state: outcome.state,
    reason: outcome.reason,
    counts: outcome.counts,
    batches: outcome.batches,
  });
  report('coverage', {
    scored,
    total,
    percent: Math.round((scored / Math.max(1, total)) * 10_000) / 100,
    writtenTwice: Number(coverage!.over),
  });
  process.exitCode = outcome.state === 'succeeded' || outcome.state === 'paused' ? 0 : 1;
} finally {
  await example.close();
}
