import type pg from 'pg';
import { queuedBehind } from '../../core/concurrency.js';
import { NotFoundError } from '../../core/errors.js';
import { paramsKey } from '../../core/params-key.js';
import { NO_ROLLOUT, withRollout } from '../../core/rollout.js';
import { assertTransition, type RunState } from '../../core/run-state.js';
import type { ConcurrencyLimits, RunOptions, RunRecord, StartResult } from '../../core/run.js';
import type { NewRun, RunFilter, RunStore } from '../../core/store.js';
import type { RunRow } from '../shared/run-rows.js';
import { SharedRunStatements } from '../shared/run-statements.js';
import { decode, type PostgresStoreSchema } from './store-schema.js';
import { PostgresStatements } from './store-statements.js';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * Runs and their lifecycle. A run's row lock (`FOR UPDATE`) and advisory locks on its backfill,
 * parameters and keys serialise what workers on other machines do at the same time. Transitions,
 * decisions, control and planned items: `SharedRunStatements`.
 */
export class PostgresRuns extends SharedRunStatements implements RunStore {
  constructor(private readonly db: PostgresStoreSchema) {
    super(new PostgresStatements(db), db.location);
  }

  async createRun(input: NewRun): Promise<RunRecord> {
    await this.db.inTransaction((client) => this.insertRun(client, input));
    return (await this.getRun(input.id))!;
  }

  async createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }> {
    const key = paramsKey(input.params.extra);
    const found = await this.db.inTransaction(async (client): Promise<string | undefined> => {
      // Starts of the same backfill and parameters on any machine queue on this lock until the
      // first one commits: the lookup below then sees its run.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sluice-run-once:${this.db.schema}:${input.backfill}:${key}`]);
      const { rows: open } = await client.query<{ id: string }>(
        `SELECT id FROM ${this.db.t.runs} WHERE backfill = $1 AND params_key = $2
          AND state IN ('pending', 'running', 'paused') ORDER BY created_at DESC, id DESC LIMIT 1`,
        [input.backfill, key],
      );
      if (open[0]) return open[0].id;
      if (options.orSucceeded) {
        const { rows: last } = await client.query<{ id: string; state: RunState; since: string | null }>(
          `SELECT id, state, params->>'since' AS since
            FROM ${this.db.t.runs} WHERE backfill = $1 AND params_key = $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
          [input.backfill, key],
        );
        if (last[0]?.state === 'succeeded' && last[0].since === null) return last[0].id;
      }
      await this.insertRun(client, input);
      return undefined;
    });
    return { run: (await this.getRun(found ?? input.id))!, created: found === undefined };
  }

  /** Inside a transaction: the run, its partitions and its first transition. */
  private async insertRun(client: pg.PoolClient, input: NewRun): Promise<void> {
    const rollout = input.rollout ?? NO_ROLLOUT;
    await client.query(
      `INSERT INTO ${this.db.t.runs} (id, backfill, state, params, params_key, options, created_by, reason, planned_items, keys, canary_items, canary_left, ramp_lanes)
        VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)`,
      [
        input.id,
        input.backfill,
        JSON.stringify(input.params),
        paramsKey(input.params.extra),
        JSON.stringify(withRollout(input.options, rollout)),
        input.createdBy,
        input.reason,
        input.plannedItems,
        JSON.stringify(input.keys ?? {}),
        rollout.canaryItems,
        rollout.gradual ? 1 : null,
      ],
    );
    await client.query(
      `INSERT INTO ${this.db.t.partitions} (run_id, idx, lower, upper, label, child)
        SELECT $1, i - 1, l, u, lb, c FROM unnest($2::jsonb[], $3::jsonb[], $4::text[], $5::text[]) WITH ORDINALITY AS x(l, u, lb, c, i)`,
      [
        input.id,
        input.partitions.map((p) => JSON.stringify(p.lower ?? null)),
        input.partitions.map((p) => JSON.stringify(p.upper ?? null)),
        input.partitions.map((p) => p.label ?? null),
        input.partitions.map((p) => p.child ?? null),
      ],
    );
    await this.insertTransition(client, input.id, null, 'pending', input.createdBy, input.reason);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const [row] = await this.runs('WHERE r.id = $1', [runId], 1);
    return row;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.key !== undefined) {
      params.push(JSON.stringify({ [filter.key.name]: filter.key.value }));
      where.push(`r.keys @> $${params.length}::jsonb`);
    }
    if (filter.backfill !== undefined) {
      params.push(filter.backfill);
      where.push(`r.backfill = $${params.length}`);
    }
    if (filter.params !== undefined) {
      params.push(paramsKey(filter.params));
      where.push(`r.params_key = $${params.length}`);
    }
    if (filter.states && filter.states.length > 0) {
      params.push(filter.states);
      where.push(`r.state = ANY($${params.length}::text[])`);
    }
    return this.runs(where.length ? `WHERE ${where.join(' AND ')}` : '', params, filter.limit ?? 100);
  }

  async transitionRun(
    runId: string,
    from: readonly RunState[],
    to: RunState,
    actor: string,
    reason: string,
  ): Promise<RunRecord | undefined> {
    const changed = await this.db.inTransaction(async (client) => {
      const state = await this.lockRunState(client, runId);
      if (!from.includes(state)) return false;
      await this.applyTransition(client, runId, state, to, actor, reason);
      return true;
    });
    return changed ? this.getRun(runId) : undefined;
  }

  async startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult> {
    const keyed = limits.keys.filter((k) => k.runs !== undefined);
    const result = await this.db.inTransaction(async (client): Promise<StartResult | 'started'> => {
      // Workers on other machines start runs of the same key at the same moment: each key value
      // is a lock, taken in a fixed order so that two starts never wait on each other in a cycle.
      await this.db.lockKeys(client, 'runs', keyed);
      const state = await this.lockRunState(client, runId);
      if (!from.includes(state)) return { kind: 'unchanged' };
      for (const key of keyed) {
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM ${this.db.t.runs} WHERE keys @> $1::jsonb AND state = 'running' AND id <> $2 ORDER BY started_at, id`,
          [JSON.stringify({ [key.name]: key.value }), runId],
        );
        if (rows.length >= key.runs!) return queuedBehind(key, rows[0]!.id, rows.length);
      }
      await this.applyTransition(client, runId, state, 'running', actor, reason);
      return 'started';
    });
    return result === 'started' ? { kind: 'started', run: (await this.getRun(runId))! } : result;
  }

  private async lockRunState(client: pg.PoolClient, runId: string): Promise<RunState> {
    const { rows } = await client.query<{ state: RunState }>(`SELECT state FROM ${this.db.t.runs} WHERE id = $1 FOR UPDATE`, [runId]);
    if (!rows[0]) throw new NotFoundError(`no run "${runId}" in ${this.db.location}`);
    return rows[0].state;
  }

  /** Inside a transaction holding the run's row lock: moves it from `from` to `to` and records the transition. */
  private async applyTransition(
    client: pg.PoolClient,
    runId: string,
    from: RunState,
    to: RunState,
    actor: string,
    reason: string,
  ): Promise<void> {
    assertTransition(runId, from, to);
    const ends = TERMINAL.includes(to);
    await client.query(
      `UPDATE ${this.db.t.runs} SET state = $2, reason = $3, updated_at = now(),
        started_at = CASE WHEN $2 = 'running' THEN COALESCE(started_at, now()) ELSE started_at END,
        finished_at = CASE WHEN $4 THEN now() ELSE NULL END,
        control = CASE WHEN $5 THEN NULL ELSE control END
      WHERE id = $1`,
      [runId, to, reason, ends, ends || to === 'paused'],
    );
    await this.insertTransition(client, runId, from, to, actor, reason);
  }

  async updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord> {
    const { rowCount } = await this.db.q(
      `UPDATE ${this.db.t.runs} SET options = options || $2::jsonb, tuning = tuning + 1, updated_at = now() WHERE id = $1`,
      [runId, JSON.stringify(patch)],
    );
    if (!rowCount) throw new NotFoundError(`no run "${runId}" in ${this.db.location}`);
    return (await this.getRun(runId))!;
  }

  private async runs(where: string, params: unknown[], limit: number): Promise<RunRecord[]> {
    const { rows } = await this.db.q<RunRow>(
      `SELECT r.*, COALESCE(SUM(p.received), 0) AS c_received, COALESCE(SUM(p.processed), 0) AS c_processed,
          COALESCE(SUM(p.skipped), 0) AS c_skipped, COALESCE(SUM(p.failed), 0) AS c_failed,
          COALESCE(SUM(p.quarantined), 0) AS c_quarantined, COALESCE(SUM(p.batches), 0) AS c_batches
        FROM ${this.db.t.runs} r LEFT JOIN ${this.db.t.partitions} p ON p.run_id = r.id
        ${where} GROUP BY r.id ORDER BY r.created_at DESC, r.id DESC LIMIT $${params.length + 1}`,
      [...params, limit],
    );
    return rows.map(decode.run);
  }

  private async insertTransition(
    client: pg.PoolClient,
    runId: string,
    from: RunState | null,
    to: RunState,
    actor: string,
    reason: string,
  ): Promise<void> {
    await client.query(`INSERT INTO ${this.db.t.transitions} (run_id, from_state, to_state, actor, reason) VALUES ($1, $2, $3, $4, $5)`, [
      runId,
      from,
      to,
      actor,
      reason,
    ]);
  }
}
