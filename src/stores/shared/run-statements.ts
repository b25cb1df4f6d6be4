import { NotFoundError } from '../../core/errors.js';
import type { DecisionRecord, RunControl, TransitionRecord } from '../../core/run.js';
import type { RunStore } from '../../core/store.js';
import type { DecisionRow, TransitionRow } from './run-rows.js';
import type { StoreStatements } from './store-statements.js';

/**
 * The methods of the RunStore port whose statements both stores share: a run's transitions and
 * decisions, its control request and its planned items. Each store's runs module extends this and
 * writes the rest itself: creating and moving runs, which lock differently (SQLite: one writer;
 * PostgreSQL: row and advisory locks), and the runs' own queries, which differ in JSON operators.
 */
export abstract class SharedRunStatements
  implements Pick<RunStore, 'listTransitions' | 'recordDecision' | 'listDecisions' | 'setControl' | 'setPlannedItems'>
{
  constructor(
    protected readonly statements: StoreStatements,
    private readonly location: string,
  ) {}

  async listTransitions(runId: string): Promise<TransitionRecord[]> {
    const { t, decode } = this.statements;
    return (await this.statements.read<TransitionRow>(`SELECT * FROM ${t.transitions} WHERE run_id = ? ORDER BY id`, [runId])).map(
      decode.transition,
    );
  }

  async recordDecision(runId: string, decision: { worker: string; kind: string; reason: string; settings: object }): Promise<void> {
    const now = this.statements.now();
    await this.statements.write(
      `INSERT INTO ${this.statements.t.decisions} (run_id, worker, kind, reason, settings, at) VALUES (?, ?, ?, ?, ?, ${now.sql})`,
      [runId, decision.worker, decision.kind, decision.reason, JSON.stringify(decision.settings), ...now.params],
    );
  }

  async listDecisions(runId: string, limit = 50): Promise<DecisionRecord[]> {
    const { t, decode } = this.statements;
    const rows = await this.statements.read<DecisionRow>(`SELECT * FROM ${t.decisions} WHERE run_id = ? ORDER BY id DESC LIMIT ?`, [
      runId,
      limit,
    ]);
    return rows.map(decode.decision);
  }

  async setControl(runId: string, control: RunControl | null): Promise<void> {
    const now = this.statements.now();
    const changed = await this.statements.write(`UPDATE ${this.statements.t.runs} SET control = ?, updated_at = ${now.sql} WHERE id = ?`, [
      control ? JSON.stringify(control) : null,
      ...now.params,
      runId,
    ]);
    if (changed === 0) throw new NotFoundError(`no run "${runId}" in ${this.location}`);
  }

  async setPlannedItems(runId: string, plannedItems: number): Promise<boolean> {
    const now = this.statements.now();
    const changed = await this.statements.write(
      `UPDATE ${this.statements.t.runs} SET planned_items = ?, updated_at = ${now.sql} WHERE id = ? AND planned_items IS NULL`,
      [plannedItems, ...now.params, runId],
    );
    return changed > 0;
  }
}
