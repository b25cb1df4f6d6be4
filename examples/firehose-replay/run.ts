// Seed 002 end to end: `npx tsx examples/firehose-replay/run.ts [--db postgres://…] [--days 3] [--profile background]`.
// Replays the last N days of a local firehose under the `background` profile and a memory limit
// (BACKFILL_MAX_MEMORY_MB and the other BACKFILL_* variables of seed 002 work too), printing the
// received / processed / skipped / rate line as it goes.
import { envLayer } from 'sluice';
import { flags, openExample, report, tableExists, write } from '../shared/example.js';
import { firehoseReplay } from './backfill.js';
import { startFirehose } from './firehose.js';

const args = flags(
  { days: { type: 'string' }, 'per-day': { type: 'string' }, profile: { type: 'string' } },
  'run.ts [--db FILE|postgres://…] [--days 3] [--per-day 200] [--profile background|moderate|fast]',
);
const days = Number(args.days ?? 3);
const firehose = await startFirehose({ days: 30, perDay: Number(args['per-day'] ?? 200) });
const example = await openExample(args.db as string | undefined, '.sluice/firehose-replay.db', [firehoseReplay(firehose.url)]);
try {
  if (!(await tableExists(example, 'user_activity'))) {
    await write(example.store, [
      'CREATE TABLE user_activity (user_id INTEGER PRIMARY KEY, events INTEGER NOT NULL, purchases INTEGER NOT NULL)',
    ]);
  }
  const since = new Date(Date.now() - days * 86_400_000).toISOString();
  const profile = args.profile as 'background' | 'moderate' | 'fast' | undefined;
  const handle = await example.sluice.start('firehose-replay', {
    params: { since },
    throttleLayers: [envLayer(process.env)],
    ...(profile ? { profile } : {}),
  });
  handle.on('progress', (p) => {
    const line = `received ${p.counts.received} · processed ${p.counts.processed} · skipped ${p.counts.skipped} · ${Math.round(p.itemsPerSecond ?? 0)}/s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}   `);
    else
      report('progress', { received: p.counts.received, processed: p.counts.processed, skipped: p.counts.skipped, rate: p.itemsPerSecond });
  });
  const outcome = await handle.done;
  if (process.stderr.isTTY) process.stderr.write('\n');
  const [totals] = await example.sql.query<{ events: number; users: number }>(
    'SELECT SUM(events) AS events, COUNT(*) AS users FROM user_activity',
  );
  const decisions = await example.store.listDecisions(outcome.runId, 5);
  report('outcome', {
    runId: outcome.runId,
    state: outcome.state,
    counts: outcome.counts,
    counted: Number(totals!.events),
    users: Number(totals!.users),
    configured: decisions.find((d) => d.kind === 'configured')?.reason,
  });
  process.exitCode = outcome.state === 'succeeded' ? 0 : 1;
} finally {
  await example.close();
  await firehose.close();
}
