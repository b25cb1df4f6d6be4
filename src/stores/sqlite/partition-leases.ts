import { partitionLimitReason } from '../../core/concurrency.js';
import type { Cursor } from '../../core/cursor.js';
import { rampLimitReason, rampTakeover } from '../../core/rollout.js';
import type { ClaimResult, ConcurrencyLimits, PartitionLease, PartitionRecord, PartitionState } from '../../core/run.js';
import type { ClaimScope, PartitionLeases } from '../../core/store.js';
import type { PartitionRow } from '../shared/run-rows.js';
import { decode, jsonPath, type SqliteStoreFile } from './store-file.js';

/** Partitions and their leases, stamped by the store's clock (`now`); every write is fenced. */
export class SqlitePartitionLeases implements PartitionLeases {
  constructor(private readonly file: SqliteStoreFile) {}

  async listPartitions(runId: string): Promise<PartitionRecord[]> {
    return this.file.reading(() =>
      (this.file.read.prepare('SELECT * FROM sluice_partitions WHERE run_id = ? ORDER BY idx').all(runId) as PartitionRow[]).map(
        decode.partition,
      ),
    );
  }

  async claimPartition(runId: string, owner: string, leaseMs: number, scope: ClaimScope = {}): Promise<PartitionLease | undefined> {
    return this.file.writing(() => this.claimNow(runId, owner, leaseMs, scope));
  }

  async claimPartitionWithin(
    runId: string,
    owner: string,
    leaseMs: number,
    limits: ConcurrencyLimits,
    scope: ClaimScope = {},
  ): Promise<ClaimResult> {
    return this.file.writing((): ClaimResult => {
      // One writer: the counts cannot change between reading them and claiming.
      const now = this.file.now();
      for (const key of limits.keys) {
        if (key.partitions === undefined) continue;
        const { n } = this.file.write
          .prepare(`SELECT COUNT(*) AS n FROM sluice_partitions p JOIN sluice_runs r ON r.id = p.run_id
            WHERE p.state = 'running' AND p.lease_expires_at >= ? AND json_extract(r.keys, ?) = ?`)
          .get(now, jsonPath(key.name), key.value) as { n: number };
        if (n >= key.partitions) return { kind: 'blocked', reason: partitionLimitReason(`${key.name}=${key.value}`, n, key.partitions) };
      }
      if (limits.backfillPartitions !== undefined) {
        const { n, backfill } = (this.file.write
          .prepare(`SELECT COUNT(p.run_id) AS n, b.backfill AS backfill FROM (SELECT backfill FROM sluice_runs WHERE id = ?) b
            LEFT JOIN sluice_runs r ON r.backfill = b.backfill
            LEFT JOIN sluice_partitions p ON p.run_id = r.id AND p.state = 'running' AND p.lease_expires_at >= ?
            GROUP BY b.backfill`)
          .get(runId, now) as { n: number; backfill: string }) ?? { n: 0, backfill: '' };
        if (n >= limits.backfillPartitions)
          return { kind: 'blocked', reason: partitionLimitReason(`backfill ${backfill}`, n, limits.backfillPartitions) };
      }
      const ramp = this.file.write.prepare('SELECT ramp_lanes FROM sluice_runs WHERE id = ?').get(runId) as
        | { ramp_lanes: number | null }
        | undefined;
      if (ramp && ramp.ramp_lanes !== null) {
        // Every leased partition holds a lane, its lease expired or not (see rampTakeover).
        const { n } = this.file.write
          .prepare(`SELECT COUNT(*) AS n FROM sluice_partitions WHERE run_id = ? AND state = 'running'`)
          .get(runId) as { n: number };
        if (n >= ramp.ramp_lanes) {
          const orphan = this.claimNow(runId, owner, leaseMs, rampTakeover(scope));
          return orphan ? { kind: 'claimed', lease: orphan } : { kind: 'blocked', reason: rampLimitReason(n, ramp.ramp_lanes) };
        }
      }
      const lease = this.claimNow(runId, owner, leaseMs, scope);
      return lease ? { kind: 'claimed', lease } : { kind: 'none' };
    });
  }

  /**
   * Under the write lock: one statement picks the partition and leases it, so no other writer can
   * come between. Run to completion (`all`, not `get`): in autocommit mode the statement commits
   * when it finishes, and `get` returns the RETURNING row before that, dropping a failed commit's
   * error (a full disk: the lease was never written, and a lane claimed it again and again).
   */
  private claimNow(runId: string, owner: string, leaseMs: number, scope: ClaimScope): PartitionLease | undefined {
    const now = this.file.now();
    const expires = now + leaseMs;
    const [row] = this.file.write
      .prepare(`UPDATE sluice_partitions SET state = 'running', fence = fence + 1, lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, updated_at = ?
        WHERE run_id = ? AND idx = (
          SELECT idx FROM sluice_partitions WHERE run_id = ?
             AND ((state = 'pending' AND NOT ?) OR (state = 'running' AND COALESCE(lease_expires_at, 0) < ?))
           ORDER BY idx LIMIT 1)
        RETURNING idx, fence`)
      .all(owner, expires, now, new Date(now).toISOString(), runId, runId, scope.orphansOnly ? 1 : 0, now) as Array<{
      idx: number;
      fence: number;
    }>;
    return row ? { runId, index: row.idx, fence: row.fence, owner, expiresAt: new Date(expires).toISOString() } : undefined;
  }

  async renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean> {
    return this.file.writing(() => {
      const now = this.file.now();
      return (
        this.file.write
          .prepare(
            `UPDATE sluice_partitions SET lease_expires_at = ?, heartbeat_at = ?, updated_at = ? WHERE run_id = ? AND idx = ? AND fence = ? AND state = 'running'`,
          )
          .run(now + leaseMs, now, new Date(now).toISOString(), lease.runId, lease.index, lease.fence).changes > 0
      );
    });
  }

  async releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean> {
    return this.file.writing(
      () =>
        this.file.write
          .prepare(`UPDATE sluice_partitions SET state = ?, lease_owner = NULL, lease_expires_at = NULL, error = ?, updated_at = ?
          WHERE run_id = ? AND idx = ? AND fence = ?`)
          .run(state, error ?? null, this.file.iso(), lease.runId, lease.index, lease.fence).changes > 0,
    );
  }

  async splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined> {
    return this.file.writing(() =>
      this.file.writer
        .transaction(() => {
          const row = this.file.write
            .prepare(
              `SELECT upper, child FROM sluice_partitions WHERE run_id = ? AND idx = ? AND batches <= ? AND upper = ? AND state IN ('pending', 'running')`,
            )
            .get(runId, index, observed.batches + 1, JSON.stringify(observed.upper ?? null)) as
            | { upper: string; child: string | null }
            | undefined;
          if (!row) return undefined;
          const point = JSON.stringify(at ?? null);
          const next = (
            this.file.write.prepare('SELECT MAX(idx) + 1 AS n FROM sluice_partitions WHERE run_id = ?').get(runId) as { n: number }
          ).n;
          const now = this.file.iso();
          this.file.write
            .prepare('UPDATE sluice_partitions SET upper = ?, updated_at = ? WHERE run_id = ? AND idx = ?')
            .run(point, now, runId, index);
          this.file.write
            .prepare(
              'INSERT INTO sluice_partitions (run_id, idx, lower, upper, label, child, split_from, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            )
            .run(runId, next, point, row.upper, label, row.child, index, now);
          return next;
        })
        .immediate(),
    );
  }

  async expireLeases(isDead: (owner: string) => boolean): Promise<number> {
    return this.file.writing(() => {
      const owners = this.file.write
        .prepare(`SELECT DISTINCT lease_owner FROM sluice_partitions WHERE state = 'running' AND lease_owner IS NOT NULL`)
        .all() as Array<{ lease_owner: string }>;
      const expire = this.file.write.prepare(
        `UPDATE sluice_partitions SET lease_expires_at = 0 WHERE state = 'running' AND lease_owner = ?`,
      );
      let expired = 0;
      for (const { lease_owner: owner } of owners) if (isDead(owner)) expired += expire.run(owner).changes;
      return expired;
    });
  }

  async resetFailedPartitions(runId: string): Promise<number> {
    return this.file.writing(
      () =>
        this.file.write
          .prepare(`UPDATE sluice_partitions SET state = 'pending', error = NULL, updated_at = ? WHERE run_id = ? AND state = 'failed'`)
          .run(this.file.iso(), runId).changes,
    );
  }
}
