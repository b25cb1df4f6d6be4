import { queuedBehind } from '../../core/concurrency.js';
import { NotFoundError } from '../../core/errors.js';
import { paramsKey } from '../../core/params-key.js';
import { NO_ROLLOUT, withRollout } from '../../core/rollout.js';
import { assertTransition, type RunState } from '../../core/run-state.js';
import type { ConcurrencyLimits, RunOptions, RunRecord, StartResult } from '../../core/run.js';
import type { NewRun, RunFilter, RunStore } from '../../core/store.js';
import type { RunRow } from '../shared/run-rows.js';
import { SharedRunStatements } from '../shared/run-statements.js';
import { decode, jsonPath, type SqliteStoreFile } from './store-file.js';
import { SqliteStatements } from './store-statements.js';

/** A run with its counts summed over its partitions, in one aggregate query. */
const RUN_SELECT = `SELECT r.*, COALESCE(SUM(p.received), 0) AS c_received, COALESCE(SUM(p.processed), 0) AS c_processed,
    COALESCE(SUM(p.skipped), 0) AS c_skipped, COALESCE(SUM(p.failed), 0) AS c_failed,
    COALESCE(SUM(p.quarantined), 0) AS c_quarantined, COALESCE(SUM(p.batches), 0) AS c_batches
  FROM sluice_runs r LEFT JOIN sluice_partitions p ON p.run_id = r.id`;

export const GET_RUN = `${RUN_SELECT} WHERE r.id = ? GROUP BY r.id`;

/**
 * Runs and their lifecycle. One writer: a lookup and the write that depends on it are one `BEGIN
 * IMMEDIATE` transaction. Transitions, decisions, control and planned items: `SharedRunStatements`.
 */
export class SqliteRuns extends SharedRunStatements implements RunStore {
  constructor(private readonly file: SqliteStoreFile) {
    super(new SqliteStatements(file), file.location);
  }

  async createRun(input: NewRun): Promise<RunRecord> {
    return this.file.writing(() => {
      this.file.writer.transaction(() => this.insertRun(input)).immediate();
      return decode.run(this.file.write.prepare(GET_RUN).get(input.id) as RunRow);
    });
  }

  async createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }> {
    return this.file.writing(() => {
      // One writer (BEGIN IMMEDIATE): no other process can create a run between the lookup and the insert.
      const found = this.file.writer
        .transaction((): string | undefined => {
          const key = paramsKey(input.params.extra);
          const open = this.file.write
            .prepare(`SELECT id FROM sluice_runs WHERE backfill = ? AND params_key = ? AND state IN ('pending', 'running', 'paused')
          ORDER BY created_at DESC, rowid DESC LIMIT 1`)
            .get(input.backfill, key) as { id: string } | undefined;
          if (open) return open.id;
          if (options.orSucceeded) {
            const last = this.file.write
              .prepare(`SELECT id, state, json_extract(params, '$.since') AS since FROM sluice_runs WHERE backfill = ? AND params_key = ?
            ORDER BY created_at DESC, rowid DESC LIMIT 1`)
              .get(input.backfill, key) as { id: string; state: RunState; since: string | null } | undefined;
            if (last?.state === 'succeeded' && last.since === null) return last.id;
          }
          this.insertRun(input);
          return undefined;
        })
        .immediate();
      return { run: decode.run(this.file.write.prepare(GET_RUN).get(found ?? input.id) as RunRow), created: found === undefined };
    });
  }

  /** Inside a write transaction: the run, its partitions and its first transition. */
  private insertRun(input: NewRun): void {
    const at = this.file.iso();
    const rollout = input.rollout ?? NO_ROLLOUT;
    this.file.write
      .prepare(`INSERT INTO sluice_runs (id, backfill, state, params, params_key, options, created_by, created_at, updated_at, reason, planned_items, keys,
        canary_items, canary_left, ramp_lanes)
      VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(
        input.id,
        input.backfill,
        JSON.stringify(input.params),
        paramsKey(input.params.extra),
        JSON.stringify(withRollout(input.options, rollout)),
        input.createdBy,
        at,
        at,
        input.reason,
        input.plannedItems,
        JSON.stringify(input.keys ?? {}),
        rollout.canaryItems,
        rollout.canaryItems,
        rollout.gradual ? 1 : null,
      );
    const insert = this.file.write.prepare(
      'INSERT INTO sluice_partitions (run_id, idx, lower, upper, label, child, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    input.partitions.forEach((p, idx) =>
      insert.run(input.id, idx, JSON.stringify(p.lower ?? null), JSON.stringify(p.upper ?? null), p.label ?? null, p.child ?? null, at),
    );
    this.insertTransition(input.id, null, 'pending', input.createdBy, input.reason, at);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.file.reading(() => {
      const row = this.file.read.prepare(GET_RUN).get(runId) as RunRow | undefined;
      return row ? decode.run(row) : undefined;
    });
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.key !== undefined) {
      where.push('json_extract(r.keys, ?) = ?');
      params.push(jsonPath(filter.key.name), filter.key.value);
    }
    if (filter.backfill !== undefined) {
      where.push('r.backfill = ?');
      params.push(filter.backfill);
    }
    if (filter.params !== undefined) {
      where.push('r.params_key = ?');
      params.push(paramsKey(filter.params));
    }
    if (filter.states && filter.states.length > 0) {
      where.push('r.state IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.states));
    }
    // Newest first; runs created in the same millisecond in the order they were created.
    const sql = `${RUN_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY r.id ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?`;
    return this.file.reading(() => (this.file.read.prepare(sql).all(...params, filter.limit ?? 100) as RunRow[]).map(decode.run));
  }

  async transitionRun(
    runId: string,
    from: readonly RunState[],
    to: RunState,
    actor: string,
    reason: string,
  ): Promise<RunRecord | undefined> {
    return this.file.writing(() =>
      this.file.writer
        .transaction(() => {
          const row = this.file.write.prepare('SELECT state FROM sluice_runs WHERE id = ?').get(runId) as { state: RunState } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.file.location}`);
          if (!from.includes(row.state)) return undefined;
          return this.applyTransition(runId, row.state, to, actor, reason);
        })
        .immediate(),
    );
  }

  async startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult> {
    return this.file.writing(() =>
      // One writer: nothing can start another run between the count and the transition.
      this.file.writer
        .transaction((): StartResult => {
          const row = this.file.write.prepare('SELECT state FROM sluice_runs WHERE id = ?').get(runId) as { state: RunState } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.file.location}`);
          if (!from.includes(row.state)) return { kind: 'unchanged' };
          for (const key of limits.keys) {
            if (key.runs === undefined) continue;
            const holders = this.file.write
              .prepare(
                `SELECT id FROM sluice_runs WHERE json_extract(keys, ?) = ? AND state = 'running' AND id <> ? ORDER BY started_at, id`,
              )
              .all(jsonPath(key.name), key.value, runId) as Array<{ id: string }>;
            if (holders.length >= key.runs) return queuedBehind(key, holders[0]!.id, holders.length);
          }
          return { kind: 'started', run: this.applyTransition(runId, row.state, 'running', actor, reason) };
        })
        .immediate(),
    );
  }

  /** Inside a write transaction: moves the run from `from` to `to` and records the transition. */
  private applyTransition(runId: string, from: RunState, to: RunState, actor: string, reason: string): RunRecord {
    assertTransition(runId, from, to);
    const at = this.file.iso();
    const ends = to === 'succeeded' || to === 'failed' || to === 'cancelled';
    const clearsControl = ends || to === 'paused';
    this.file.write
      .prepare(`UPDATE sluice_runs SET state = ?, reason = ?, updated_at = ?,
        started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, ?) ELSE started_at END,
        finished_at = CASE WHEN ? THEN ? ELSE NULL END,
        control = CASE WHEN ? THEN NULL ELSE control END
      WHERE id = ?`)
      .run(to, reason, at, to, at, ends ? 1 : 0, at, clearsControl ? 1 : 0, runId);
    this.insertTransition(runId, from, to, actor, reason, at);
    // Read back in the same transaction: the record is the state this transition made.
    return decode.run(this.file.write.prepare(GET_RUN).get(runId) as RunRow);
  }

  async updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord> {
    return this.file.writing(() =>
      this.file.writer
        .transaction(() => {
          const row = this.file.write.prepare('SELECT options FROM sluice_runs WHERE id = ?').get(runId) as { options: string } | undefined;
          if (!row) throw new NotFoundError(`no run "${runId}" in ${this.file.location}`);
          const options = { ...(JSON.parse(row.options) as RunOptions), ...patch };
          this.file.write
            .prepare('UPDATE sluice_runs SET options = ?, tuning = tuning + 1, updated_at = ? WHERE id = ?')
            .run(JSON.stringify(options), this.file.iso(), runId);
          return decode.run(this.file.write.prepare(GET_RUN).get(runId) as RunRow);
        })
        .immediate(),
    );
  }

  private insertTransition(runId: string, from: RunState | null, to: RunState, actor: string, reason: string, at: string): void {
    this.file.write
      .prepare('INSERT INTO sluice_transitions (run_id, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(runId, from, to, actor, reason, at);
  }
}
