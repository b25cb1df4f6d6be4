import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../src/stores/sqlite/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const options = { batchSize: 10, concurrency: 2, maxFailureRatio: 0.01, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } };

describe('sluice status: leases and split partitions', () => {
  it("shows each partition's lease (owner, expiry, heartbeat age), a split partition the range it still owns and its child the rest", async () => {
    const { dir, cleanup } = await tempDir();
    const db = join(dir, 'store.db');
    const store = await openSqliteStore(db);
    try {
      // Two workers on other machines: one holds #0 and split it, the other's lease on #1 ran out.
      const run = await store.createRun({
        id: 'r_leases',
        backfill: 'ids',
        params: {},
        options,
        createdBy: 'test',
        reason: 'test',
        plannedItems: 200,
        partitions: [
          { lower: null, upper: [100], label: 'id < 100' },
          { lower: [100], upper: null, label: 'id ≥ 100' },
        ],
      });
      await store.transitionRun(run.id, ['pending'], 'running', 'test', 'workers run it');
      const held = (await store.claimPartition(run.id, 'otherhost:1:held', 60_000))!;
      await store.transaction((tx) =>
        tx.checkpoint({
          lease: held,
          previousCursor: null,
          cursor: [10],
          done: false,
          delta: { received: 10, processed: 10, skipped: 0, failed: 0, quarantined: 0 },
          leaseMs: 60_000,
        }),
      );
      assert.equal(await store.splitPartition(run.id, 0, { batches: 1, upper: [100] }, [50], null), 2);
      await store.claimPartition(run.id, 'otherhost:2:gone', -1_000);
      await store.close();

      const shown = await runCli(['status', run.id, '--db', db], { cwd: dir });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^run r_leases {2}ids {2}running \(executing\)$/m);
      assert.doesNotMatch(shown.stdout, /STALLED/, 'a live lease works on it');
      assert.match(
        shown.stdout,
        /^ {2}#0 {2}running {2}id < 100 +received 10, processed 10, quarantined 0 {2}owns \[10\] → \[50\]\n {8}lease: otherhost:1:held, expires in [0-9.]+s \([^)]+\); last heartbeat [0-9.]+s ago$/m,
      );
      assert.match(
        shown.stdout,
        /^ {2}#1 {2}running {2}id ≥ 100 +received 0, processed 0, quarantined 0 {2}owns \[100\] → end\n {8}lease: otherhost:2:gone, EXPIRED [0-9.]+s ago \([^)]+\): free to take over; last heartbeat [0-9.]+s ago$/m,
      );
      assert.match(shown.stdout, /^ {2}#2 {2}pending {2}split from #0 +received 0, processed 0, quarantined 0 {2}owns \[50\] → \[100\]$/m);

      const json = JSON.parse((await runCli(['status', run.id, '--db', db, '--json'], { cwd: dir })).stdout) as {
        at: string;
        stalled: unknown;
        partitions: Array<{
          index: number;
          leaseOwner: string | null;
          leaseExpiresAt: string | null;
          leaseLive: boolean;
          heartbeatAgeMs: number | null;
          splitFrom: number | null;
          remaining: unknown;
        }>;
      };
      assert.equal(json.stalled, null);
      assert.deepEqual(
        json.partitions.map((p) => [p.index, p.leaseOwner, p.leaseLive, p.splitFrom, p.remaining]),
        [
          [0, 'otherhost:1:held', true, null, { from: [10], to: [50] }],
          [1, 'otherhost:2:gone', false, null, { from: [100], to: null }],
          [2, null, false, 0, { from: [50], to: [100] }],
        ],
      );
      const now = Date.parse(json.at);
      assert.ok(Date.parse(json.partitions[0]!.leaseExpiresAt!) > now && Date.parse(json.partitions[1]!.leaseExpiresAt!) < now);
      assert.ok(json.partitions.slice(0, 2).every((p) => p.heartbeatAgeMs !== null && p.heartbeatAgeMs >= 0));
      assert.equal(json.partitions[2]!.heartbeatAgeMs, null, 'never claimed');
    } finally {
      await cleanup();
    }
  });
});
