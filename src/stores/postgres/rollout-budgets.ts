import { LeaseLostError, NotFoundError } from '../../core/errors.js';
import { withRollout } from '../../core/rollout.js';
import type { CanaryClaim, PartitionLease, RampMove, RolloutSettings, RunOptions, RunRecord } from '../../core/run.js';
import type { RolloutBudgets, RunStore } from '../../core/store.js';
import type { PostgresStoreSchema } from './store-schema.js';

/** A run's canary budget and gradual ramp; the run's row lock serialises the claims and settlements of every worker. */
export class PostgresRolloutBudgets implements RolloutBudgets {
  constructor(
    private readonly db: PostgresStoreSchema,
    private readonly runs: Pick<RunStore, 'getRun'>,
  ) {}

  async setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord> {
    await this.db.inTransaction(async (client) => {
      const { rows } = await client.query<{ options: RunOptions }>(`SELECT options FROM ${this.db.t.runs} WHERE id = $1 FOR UPDATE`, [
        runId,
      ]);
      if (!rows[0]) throw new NotFoundError(`no run "${runId}" in ${this.db.location}`);
      await client.query(
        `UPDATE ${this.db.t.runs} SET options = $2, canary_items = $3, canary_left = $3, ramp_lanes = $4, updated_at = now() WHERE id = $1`,
        [runId, JSON.stringify(withRollout(rows[0].options, rollout)), rollout.canaryItems, rollout.gradual ? 1 : null],
      );
      await client.query(`UPDATE ${this.db.t.partitions} SET canary_claim = 0 WHERE run_id = $1 AND canary_claim <> 0`, [runId]);
    });
    return (await this.runs.getRun(runId))!;
  }

  async claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim> {
    return this.db.inTransaction(async (client): Promise<CanaryClaim> => {
      // The run's row lock serialises the claims and the settlements of every worker.
      const { rows: runRows } = await client.query<{ canary_left: number | null }>(
        `SELECT canary_left FROM ${this.db.t.runs} WHERE id = $1 FOR UPDATE`,
        [lease.runId],
      );
      const { rows: own } = await client.query<{ canary_claim: number }>(
        `SELECT canary_claim FROM ${this.db.t.partitions} WHERE run_id = $1 AND idx = $2 AND fence = $3 AND state = 'running'`,
        [lease.runId, lease.index, lease.fence],
      );
      if (!own[0]) throw new LeaseLostError(lease.runId, lease.index, lease.fence);
      const left = runRows[0]?.canary_left ?? null;
      if (left === null) return { granted: want, inFlight: 0 };
      // Claims no live lease holds any more (a worker that died mid-batch) return; a lease that
      // merely expired is revoked with them, so that its holder, if it wakes, cannot commit.
      const { rows: orphans } = await client.query<{ claimed: number }>(
        `UPDATE ${this.db.t.partitions} p SET canary_claim = 0, updated_at = now(),
            fence = CASE WHEN p.state = 'running' THEN p.fence + 1 ELSE p.fence END,
            lease_owner = CASE WHEN p.state = 'running' THEN NULL ELSE p.lease_owner END,
            lease_expires_at = CASE WHEN p.state = 'running' THEN NULL ELSE p.lease_expires_at END,
            state = CASE WHEN p.state = 'running' THEN 'pending' ELSE p.state END
          FROM ${this.db.t.partitions} old
          WHERE p.run_id = $1 AND p.idx <> $2 AND p.canary_claim > 0
            AND NOT (p.state = 'running' AND p.lease_expires_at >= now())
            AND old.run_id = p.run_id AND old.idx = p.idx
          RETURNING old.canary_claim AS claimed`,
        [lease.runId, lease.index],
      );
      const returned = orphans.reduce((sum, r) => sum + r.claimed, 0);
      // The partition's own earlier claim (a batch that did not commit) returns first.
      const available = left + returned + own[0].canary_claim;
      const granted = Math.min(want, available);
      await client.query(`UPDATE ${this.db.t.runs} SET canary_left = $2 WHERE id = $1`, [lease.runId, available - granted]);
      const { rows } = await client.query<{ in_flight: string }>(
        `WITH mine AS (UPDATE ${this.db.t.partitions} SET canary_claim = $3 WHERE run_id = $1 AND idx = $2)
         SELECT COALESCE(SUM(canary_claim), 0) AS in_flight FROM ${this.db.t.partitions} WHERE run_id = $1 AND idx <> $2`,
        [lease.runId, lease.index, granted],
      );
      return { granted, inFlight: Number(rows[0]!.in_flight) };
    });
  }

  async moveRamp(runId: string, move: RampMove): Promise<boolean> {
    return this.db.inTransaction(async (client) => {
      const { rowCount } = await client.query(
        `UPDATE ${this.db.t.runs} SET ramp_lanes = $3, updated_at = now() WHERE id = $1 AND ramp_lanes = $2`,
        [runId, move.from, move.to],
      );
      if (!rowCount) return false;
      const { decision } = move;
      await client.query(`INSERT INTO ${this.db.t.decisions} (run_id, worker, kind, reason, settings) VALUES ($1, $2, $3, $4, $5)`, [
        runId,
        decision.worker,
        decision.kind,
        decision.reason,
        JSON.stringify(decision.settings),
      ]);
      return true;
    });
  }
}
