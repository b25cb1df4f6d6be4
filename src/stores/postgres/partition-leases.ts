import type pg from 'pg';
import { partitionLimitReason } from '../../core/concurrency.js';
import type { Cursor } from '../../core/cursor.js';
import { rampLimitReason, rampTakeover } from '../../core/rollout.js';
import type { ClaimResult, ConcurrencyLimits, PartitionLease, PartitionRecord, PartitionState } from '../../core/run.js';
import type { ClaimScope, PartitionLeases } from '../../core/store.js';
import type { PartitionRow } from '../shared/run-rows.js';
import { decode, type PostgresStoreSchema } from './store-schema.js';

/** Partitions and their leases, claimed with `FOR UPDATE SKIP LOCKED` and timed by the database's clock, the one clock every worker shares; every write is fenced. */
export class PostgresPartitionLeases implements PartitionLeases {
  constructor(private readonly db: PostgresStoreSchema) {}

  async listPartitions(runId: string): Promise<PartitionRecord[]> {
    const { rows } = await this.db.q<PartitionRow>(`SELECT * FROM ${this.db.t.partitions} WHERE run_id = $1 ORDER BY idx`, [runId]);
    return rows.map(decode.partition);
  }

  async claimPartition(runId: string, owner: string, leaseMs: number, scope: ClaimScope = {}): Promise<PartitionLease | undefined> {
    return this.claimWith(this.db.pool, runId, owner, leaseMs, scope);
  }

  async claimPartitionWithin(
    runId: string,
    owner: string,
    leaseMs: number,
    limits: ConcurrencyLimits,
    scope: ClaimScope = {},
  ): Promise<ClaimResult> {
    const keyed = limits.keys.filter((k) => k.partitions !== undefined);
    return this.db.inTransaction(async (client): Promise<ClaimResult> => {
      const { rows: runRows } = await client.query<{ backfill: string; ramp_lanes: number | null }>(
        `SELECT backfill, ramp_lanes FROM ${this.db.t.runs} WHERE id = $1`,
        [runId],
      );
      const backfill = runRows[0]?.backfill;
      if (backfill === undefined) return { kind: 'none' };
      // A ramp is set while the run is not running, so a claim that saw none needs no lock for it.
      const ramped = runRows[0]!.ramp_lanes !== null;
      // Count and claim under locks on the key values: two workers cannot both see 4 of 5.
      await this.db.lockKeys(client, 'partitions', [
        ...keyed,
        ...(limits.backfillPartitions !== undefined ? [{ name: 'backfill', value: backfill }] : []),
        ...(ramped ? [{ name: 'run', value: runId }] : []),
      ]);
      for (const key of keyed) {
        const { rows } = await client.query<{ n: string }>(
          `SELECT COUNT(*) AS n FROM ${this.db.t.partitions} p JOIN ${this.db.t.runs} r ON r.id = p.run_id
            WHERE p.state = 'running' AND p.lease_expires_at >= now() AND r.keys @> $1::jsonb`,
          [JSON.stringify({ [key.name]: key.value })],
        );
        const n = Number(rows[0]!.n);
        if (n >= key.partitions!) return { kind: 'blocked', reason: partitionLimitReason(`${key.name}=${key.value}`, n, key.partitions!) };
      }
      if (limits.backfillPartitions !== undefined) {
        const { rows } = await client.query<{ n: string }>(
          `SELECT COUNT(*) AS n FROM ${this.db.t.partitions} p JOIN ${this.db.t.runs} r ON r.id = p.run_id
            WHERE p.state = 'running' AND p.lease_expires_at >= now() AND r.backfill = $1`,
          [backfill],
        );
        const n = Number(rows[0]!.n);
        if (n >= limits.backfillPartitions)
          return { kind: 'blocked', reason: partitionLimitReason(`backfill ${backfill}`, n, limits.backfillPartitions) };
      }
      if (ramped) {
        // Read again under the lock: the ramp may have moved since the first look. Every leased
        // partition holds a lane, its lease expired or not (see rampTakeover).
        const { rows } = await client.query<{ lanes: number | null; n: string }>(
          `SELECT r.ramp_lanes AS lanes, (SELECT COUNT(*) FROM ${this.db.t.partitions} p WHERE p.run_id = r.id AND p.state = 'running') AS n
            FROM ${this.db.t.runs} r WHERE r.id = $1`,
          [runId],
        );
        const lanes = rows[0]?.lanes ?? null;
        const n = Number(rows[0]?.n ?? 0);
        if (lanes !== null && n >= lanes) {
          const orphan = await this.claimWith(client, runId, owner, leaseMs, rampTakeover(scope));
          return orphan ? { kind: 'claimed', lease: orphan } : { kind: 'blocked', reason: rampLimitReason(n, lanes) };
        }
      }
      const lease = await this.claimWith(client, runId, owner, leaseMs, scope);
      return lease ? { kind: 'claimed', lease } : { kind: 'none' };
    });
  }

  private async claimWith(
    client: pg.Pool | pg.PoolClient,
    runId: string,
    owner: string,
    leaseMs: number,
    scope: ClaimScope,
  ): Promise<PartitionLease | undefined> {
    this.db.assertOpen();
    const { rows } = await client
      .query<{ idx: number; fence: string; lease_expires_at: Date }>(
        `UPDATE ${this.db.t.partitions} p SET state = 'running', fence = p.fence + 1, lease_owner = $2,
          lease_expires_at = now() + make_interval(secs => $3::double precision / 1000), heartbeat_at = now(), updated_at = now()
        WHERE (p.run_id, p.idx) = (
          SELECT run_id, idx FROM ${this.db.t.partitions}
           WHERE run_id = $1 AND ((state = 'pending' AND NOT $4) OR (state = 'running' AND COALESCE(lease_expires_at, '-infinity') < now()))
           ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING p.idx, p.fence, p.lease_expires_at`,
        [runId, owner, leaseMs, scope.orphansOnly === true],
      )
      .catch((error: unknown) => {
        throw this.db.wrap(error);
      });
    const row = rows[0];
    return row ? { runId, index: row.idx, fence: Number(row.fence), owner, expiresAt: row.lease_expires_at.toISOString() } : undefined;
  }

  async renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.partitions} SET lease_expires_at = now() + make_interval(secs => $4::double precision / 1000), heartbeat_at = now(), updated_at = now()
        WHERE run_id = $1 AND idx = $2 AND fence = $3 AND state = 'running'`,
      [lease.runId, lease.index, lease.fence, leaseMs],
    );
    return (rowCount ?? 0) > 0;
  }

  async releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean> {
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.partitions} SET state = $4, lease_owner = NULL, lease_expires_at = NULL, error = $5, updated_at = now()
        WHERE run_id = $1 AND idx = $2 AND fence = $3`,
      [lease.runId, lease.index, lease.fence, state, error ?? null],
    );
    return (rowCount ?? 0) > 0;
  }

  async splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined> {
    return this.db.inTransaction(async (client) => {
      // Splits of one run take turns (they number the new partitions).
      await client.query(`SELECT 1 FROM ${this.db.t.runs} WHERE id = $1 FOR UPDATE`, [runId]);
      const { rows } = await client.query<{ upper: Cursor; child: string | null }>(
        `SELECT upper, child FROM ${this.db.t.partitions} WHERE run_id = $1 AND idx = $2 AND batches <= $3 AND upper = $4::jsonb AND state IN ('pending', 'running') FOR UPDATE`,
        [runId, index, observed.batches + 1, JSON.stringify(observed.upper ?? null)],
      );
      if (!rows[0]) return undefined;
      const { rows: next } = await client.query<{ n: number }>(`SELECT MAX(idx) + 1 AS n FROM ${this.db.t.partitions} WHERE run_id = $1`, [
        runId,
      ]);
      await client.query(`UPDATE ${this.db.t.partitions} SET upper = $3, updated_at = now() WHERE run_id = $1 AND idx = $2`, [
        runId,
        index,
        JSON.stringify(at),
      ]);
      await client.query(
        `INSERT INTO ${this.db.t.partitions} (run_id, idx, lower, upper, label, child, split_from) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [runId, next[0]!.n, JSON.stringify(at), JSON.stringify(rows[0].upper), label, rows[0].child, index],
      );
      return next[0]!.n;
    });
  }

  async expireLeases(isDead: (owner: string) => boolean): Promise<number> {
    const { rows } = await this.db.q<{ lease_owner: string }>(
      `SELECT DISTINCT lease_owner FROM ${this.db.t.partitions} WHERE state = 'running' AND lease_owner IS NOT NULL`,
    );
    const dead = rows.map((r) => r.lease_owner).filter((owner) => isDead(owner));
    if (dead.length === 0) return 0;
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.partitions} SET lease_expires_at = 'epoch' WHERE state = 'running' AND lease_owner = ANY($1::text[])`,
      [dead],
    );
    return rowCount ?? 0;
  }

  async resetFailedPartitions(runId: string): Promise<number> {
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.partitions} SET state = 'pending', error = NULL, updated_at = now() WHERE run_id = $1 AND state = 'failed'`,
      [runId],
    );
    return rowCount ?? 0;
  }
}
