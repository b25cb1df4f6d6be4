import { LeaseLostError, NotFoundError } from '../../core/errors.js';
import { withRollout } from '../../core/rollout.js';
import type { CanaryClaim, PartitionLease, RampMove, RolloutSettings, RunOptions, RunRecord } from '../../core/run.js';
import type { RolloutBudgets } from '../../core/store.js';
import type { RunRow } from '../shared/run-rows.js';
import { GET_RUN } from './runs.js';
import { decode, type SqliteStoreFile } from './store-file.js';

/** A run's canary budget and gradual ramp, moved in write transactions (one writer: no claim comes between a read and its write). */
export class SqliteRolloutBudgets implements RolloutBudgets {
  constructor(private readonly file: SqliteStoreFile) {}

  async setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord> {
    return this.file.writing(() =>
      this.file.writer
        .transaction(() => {
          const row = this.file.write.prepare('SELECT options FROM sluice_runs WHERE id = ?').get(runId) as { options: string } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.file.location}`);
          const options = withRollout(JSON.parse(row.options) as RunOptions, rollout);
          this.file.write
            .prepare('UPDATE sluice_runs SET options = ?, canary_items = ?, canary_left = ?, ramp_lanes = ?, updated_at = ? WHERE id = ?')
            .run(JSON.stringify(options), rollout.canaryItems, rollout.canaryItems, rollout.gradual ? 1 : null, this.file.iso(), runId);
          this.file.write.prepare('UPDATE sluice_partitions SET canary_claim = 0 WHERE run_id = ? AND canary_claim <> 0').run(runId);
          return decode.run(this.file.write.prepare(GET_RUN).get(runId) as RunRow);
        })
        .immediate(),
    );
  }

  async claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim> {
    return this.file.writing(() =>
      // One writer: no other claim or checkpoint comes between reading the budget and taking from it.
      this.file.writer
        .transaction((): CanaryClaim => {
          const now = this.file.now();
          const own = this.file.write
            .prepare(`SELECT canary_claim FROM sluice_partitions WHERE run_id = ? AND idx = ? AND fence = ? AND state = 'running'`)
            .get(lease.runId, lease.index, lease.fence) as { canary_claim: number } | undefined;
          if (!own) throw new LeaseLostError(lease.runId, lease.index, lease.fence);
          const run = this.file.write.prepare('SELECT canary_left FROM sluice_runs WHERE id = ?').get(lease.runId) as
            | { canary_left: number | null }
            | undefined;
          if (!run || run.canary_left === null) return { granted: want, inFlight: 0 };
          // Claims no live lease holds any more (a worker that died mid-batch) return; a lease that
          // merely expired is revoked with them, so that its holder, if it wakes, cannot commit.
          const orphaned = `run_id = ? AND idx <> ? AND canary_claim > 0 AND NOT (state = 'running' AND lease_expires_at >= ?)`;
          const { n: returned } = this.file.write
            .prepare(`SELECT COALESCE(SUM(canary_claim), 0) AS n FROM sluice_partitions WHERE ${orphaned}`)
            .get(lease.runId, lease.index, now) as { n: number };
          if (returned > 0) {
            this.file.write
              .prepare(`UPDATE sluice_partitions SET canary_claim = 0, updated_at = ?,
              fence = CASE WHEN state = 'running' THEN fence + 1 ELSE fence END,
              lease_owner = CASE WHEN state = 'running' THEN NULL ELSE lease_owner END,
              lease_expires_at = CASE WHEN state = 'running' THEN NULL ELSE lease_expires_at END,
              state = CASE WHEN state = 'running' THEN 'pending' ELSE state END
            WHERE ${orphaned}`)
              .run(new Date(now).toISOString(), lease.runId, lease.index, now);
          }
          // The partition's own earlier claim (a batch that did not commit) returns first.
          const available = run.canary_left + returned + own.canary_claim;
          const granted = Math.min(want, available);
          this.file.write.prepare('UPDATE sluice_runs SET canary_left = ? WHERE id = ?').run(available - granted, lease.runId);
          this.file.write
            .prepare('UPDATE sluice_partitions SET canary_claim = ? WHERE run_id = ? AND idx = ?')
            .run(granted, lease.runId, lease.index);
          const { n: inFlight } = this.file.write
            .prepare('SELECT COALESCE(SUM(canary_claim), 0) AS n FROM sluice_partitions WHERE run_id = ? AND idx <> ?')
            .get(lease.runId, lease.index) as { n: number };
          return { granted, inFlight };
        })
        .immediate(),
    );
  }

  async moveRamp(runId: string, move: RampMove): Promise<boolean> {
    return this.file.writing(() =>
      this.file.writer
        .transaction(() => {
          const at = this.file.iso();
          const moved =
            this.file.write
              .prepare('UPDATE sluice_runs SET ramp_lanes = ?, updated_at = ? WHERE id = ? AND ramp_lanes = ?')
              .run(move.to, at, runId, move.from).changes > 0;
          if (moved) {
            const { decision } = move;
            this.file.write
              .prepare('INSERT INTO sluice_decisions (run_id, worker, kind, reason, settings, at) VALUES (?, ?, ?, ?, ?, ?)')
              .run(runId, decision.worker, decision.kind, decision.reason, JSON.stringify(decision.settings), at);
          }
          return moved;
        })
        .immediate(),
    );
  }
}
