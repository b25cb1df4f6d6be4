// Seed 001 end to end: `npx tsx examples/snapshot-etl/run.ts [--db postgres://…] [--snapshots N]`:
// a sampled dry run first (small, medium, large and malformed payloads), then the backfill, then
// the parity, uniqueness and coverage checks.
import { RunAlreadySucceededError } from 'sluice';
import { snapshotEtl } from './backfill.js';
import { flags, openExample, prng, report, tableExists, write } from '../shared/example.js';

const args = flags({ snapshots: { type: 'string' } }, 'run.ts [--db FILE|postgres://…] [--snapshots 2000]');
const count = Number(args.snapshots ?? 2000);
const example = await openExample(args.db as string | undefined, '.sluice/snapshot-etl.db', [snapshotEtl]);
try {
  if (!(await tableExists(example, 'raw_snapshots'))) {
    const random = prng(1);
    const rows: unknown[][] = [];
    for (let id = 1; id <= count; id++) {
      const playerId = 1 + Math.floor(random() * (count / 2));
      // Small, medium and large inventories; item ids above 900 are not in the catalog yet.
      const size = [2, 20, 200][Math.floor(random() * 3)]!;
      const inventory = Array.from({ length: size }, (_, i) => ({ item: 1 + ((playerId * 7 + i * 13) % 950), qty: 1 + (i % 5) }));
      let payload = JSON.stringify({ player: { id: playerId, name: `player-${playerId}`, level: 1 + (id % 60) }, inventory });
      const malformed = id % 97 === 0;
      if (malformed) payload = payload.slice(0, payload.length / 2); // a truncated archive
      rows.push([id, new Date(Date.UTC(2026, 0, 1) + id * 60_000).toISOString(), payload, malformed ? null : playerId]);
    }
    await write(example.store, [
      'CREATE TABLE raw_snapshots (id INTEGER PRIMARY KEY, captured_at TEXT NOT NULL, payload TEXT NOT NULL, player_id INTEGER)',
      'CREATE TABLE players (id INTEGER PRIMARY KEY, name TEXT NOT NULL, level INTEGER NOT NULL, snapshot_id INTEGER NOT NULL)',
      'CREATE TABLE catalog (id INTEGER PRIMARY KEY, name TEXT NOT NULL, placeholder INTEGER NOT NULL DEFAULT 0)',
      'CREATE TABLE inventory (player_id INTEGER NOT NULL, item_id INTEGER NOT NULL, qty INTEGER NOT NULL, UNIQUE (player_id, item_id))',
      'CREATE TABLE placeholders (item_id INTEGER PRIMARY KEY, snapshot_id INTEGER NOT NULL)',
      ['INSERT INTO catalog (id, name) VALUES (?, ?)', Array.from({ length: 900 }, (_, i) => [i + 1, `item ${i + 1}`])],
      ['INSERT INTO raw_snapshots (id, captured_at, payload, player_id) VALUES (?, ?, ?, ?)', rows],
    ]);
  }
  const sample = await example.sluice.sample('snapshot-etl', { perBucket: 5, scan: 500 });
  report('sample', {
    buckets: sample.buckets.map((b) => ({
      bucket: b.bucket,
      items: b.items,
      bytes: b.bytes,
      processed: b.processed,
      quarantined: b.quarantined,
      errors: b.errors,
    })),
  });
  // A second `run.ts` on the same store finds the first run's success: starting it again is a
  // deliberate choice (newRun), and then the ledger skips every snapshot already normalized.
  const handle = await example.sluice.start('snapshot-etl').catch(async (error: unknown) => {
    if (!(error instanceof RunAlreadySucceededError)) throw error;
    report('already-succeeded', { runId: error.run.id });
    return example.sluice.start('snapshot-etl', { newRun: true });
  });
  const outcome = await handle.done;
  report('outcome', { runId: outcome.runId, state: outcome.state, counts: outcome.counts });
  const quarantine = await example.sluice.listQuarantine({ runId: outcome.runId, limit: 1000 });
  const classes = [...new Set(quarantine.map((q) => q.errorClass))];
  const [placeholders] = await example.sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM placeholders');
  report('quarantine', { entries: quarantine.length, classes });
  report('placeholders', { recorded: Number(placeholders!.n) });
  const checks = await example.sluice.verify(outcome.runId, 'snapshot-etl example');
  for (const check of checks) report('verified', { check: check.check, passed: check.passed, detail: check.detail });
  process.exitCode = outcome.state === 'succeeded' && checks.every((c) => c.passed) ? 0 : 1;
} finally {
  await example.close();
}
