import type { Cursor, ItemKey } from '../../core/cursor.js';
import type { RunState } from '../../core/run-state.js';
import type {
  BatchRecord,
  BatchWindow,
  CanaryClaim,
  ClaimResult,
  ConcurrencyLimits,
  DecisionRecord,
  PartitionLease,
  PartitionRecord,
  PartitionState,
  QuarantineRecord,
  RampMove,
  RolloutSettings,
  RunControl,
  RunOptions,
  RunRecord,
  StartResult,
  TokenRecord,
  TransitionRecord,
} from '../../core/run.js';
import type {
  ClaimedNotifications,
  NewNotification,
  OutboxClaim,
  OutboxRecord,
  OutboxSettlement,
  OutboxState,
} from '../../core/slo/alert-outbox.js';
import type { AlertChange, AlertEventRecord, AlertKey, AlertRecord } from '../../core/slo/alert-record.js';
import type { SqlConnection, SqlDialect } from '../../core/sql.js';
import type {
  AlertOutbox,
  ApiTokens,
  BatchCommit,
  BatchHistory,
  ClaimScope,
  NewRun,
  PartitionLeases,
  QuarantineReads,
  RolloutBudgets,
  RunFilter,
  RunStore,
  SloAlerts,
  Store,
  StoreDatabase,
  StoreTransaction,
  TransactionOptions,
  Verifications,
  QuarantineFilter,
} from '../../core/store.js';
import type { VerificationRecord } from '../../core/verify.js';

/** The parts a store is made of, one per port (see src/core/store/). */
export interface StoreParts {
  database: StoreDatabase;
  runs: RunStore;
  rollout: RolloutBudgets;
  leases: PartitionLeases;
  commit: BatchCommit;
  quarantine: QuarantineReads;
  history: BatchHistory;
  alerts: SloAlerts;
  outbox: AlertOutbox;
  verifications: Verifications;
  tokens: ApiTokens;
}

/**
 * A whole `Store` composed of its parts: each method goes to the part that owns it. Both stores
 * are one (SQLite: `SqliteStore`, PostgreSQL: `PostgresStore`), each making its parts on its own
 * database.
 */
export abstract class ComposedStore implements Store {
  abstract readonly dialect: SqlDialect;
  readonly location: string;

  constructor(private readonly parts: StoreParts) {
    this.location = parts.database.location;
  }

  readConnection(): SqlConnection {
    return this.parts.database.readConnection();
  }

  clockNow(): Promise<number> {
    return this.parts.database.clockNow();
  }

  /** Closes the store's connections (SQLite: after the writes already queued). Idempotent. */
  close(): Promise<void> {
    return this.parts.database.close();
  }

  createRun(input: NewRun): Promise<RunRecord> {
    return this.parts.runs.createRun(input);
  }

  createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }> {
    return this.parts.runs.createRunOnce(input, options);
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.parts.runs.getRun(runId);
  }

  listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.parts.runs.listRuns(filter);
  }

  transitionRun(runId: string, from: readonly RunState[], to: RunState, actor: string, reason: string): Promise<RunRecord | undefined> {
    return this.parts.runs.transitionRun(runId, from, to, actor, reason);
  }

  startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult> {
    return this.parts.runs.startRun(runId, from, actor, reason, limits);
  }

  listTransitions(runId: string): Promise<TransitionRecord[]> {
    return this.parts.runs.listTransitions(runId);
  }

  updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord> {
    return this.parts.runs.updateRunOptions(runId, patch);
  }

  recordDecision(runId: string, decision: { worker: string; kind: string; reason: string; settings: object }): Promise<void> {
    return this.parts.runs.recordDecision(runId, decision);
  }

  listDecisions(runId: string, limit = 50): Promise<DecisionRecord[]> {
    return this.parts.runs.listDecisions(runId, limit);
  }

  setControl(runId: string, control: RunControl | null): Promise<void> {
    return this.parts.runs.setControl(runId, control);
  }

  setPlannedItems(runId: string, plannedItems: number): Promise<boolean> {
    return this.parts.runs.setPlannedItems(runId, plannedItems);
  }

  setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord> {
    return this.parts.rollout.setRollout(runId, rollout);
  }

  claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim> {
    return this.parts.rollout.claimCanaryItems(lease, want);
  }

  moveRamp(runId: string, move: RampMove): Promise<boolean> {
    return this.parts.rollout.moveRamp(runId, move);
  }

  listPartitions(runId: string): Promise<PartitionRecord[]> {
    return this.parts.leases.listPartitions(runId);
  }

  claimPartition(runId: string, owner: string, leaseMs: number, scope: ClaimScope = {}): Promise<PartitionLease | undefined> {
    return this.parts.leases.claimPartition(runId, owner, leaseMs, scope);
  }

  claimPartitionWithin(
    runId: string,
    owner: string,
    leaseMs: number,
    limits: ConcurrencyLimits,
    scope: ClaimScope = {},
  ): Promise<ClaimResult> {
    return this.parts.leases.claimPartitionWithin(runId, owner, leaseMs, limits, scope);
  }

  renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean> {
    return this.parts.leases.renewLease(lease, leaseMs);
  }

  releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean> {
    return this.parts.leases.releasePartition(lease, state, error);
  }

  splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined> {
    return this.parts.leases.splitPartition(runId, index, observed, at, label);
  }

  expireLeases(isDead: (owner: string) => boolean): Promise<number> {
    return this.parts.leases.expireLeases(isDead);
  }

  resetFailedPartitions(runId: string): Promise<number> {
    return this.parts.leases.resetFailedPartitions(runId);
  }

  transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.parts.commit.transaction(work, options);
  }

  deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    return this.parts.commit.deliveredKeys(namespace, keys);
  }

  listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]> {
    return this.parts.quarantine.listQuarantine(filter);
  }

  quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    return this.parts.quarantine.quarantineSummary(filter);
  }

  listBatches(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<BatchRecord[]> {
    return this.parts.history.listBatches(runId, options);
  }

  batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow> {
    return this.parts.history.batchWindow(backfill, sinceMs, slowAboveMs);
  }

  listAlerts(backfill?: string): Promise<AlertRecord[]> {
    return this.parts.alerts.listAlerts(backfill);
  }

  changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean> {
    return this.parts.alerts.changeAlert(change, notify);
  }

  listAlertEvents(
    filter: { backfill?: string; alert?: AlertKey; sinceMs?: number; untilMs?: number; limit?: number } = {},
  ): Promise<AlertEventRecord[]> {
    return this.parts.alerts.listAlertEvents(filter);
  }

  claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications> {
    return this.parts.outbox.claimNotifications(claim);
  }

  reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean> {
    return this.parts.outbox.reviseNotification(owner, id, notification);
  }

  settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean> {
    return this.parts.outbox.settleNotification(owner, id, webhook, settlement);
  }

  listNotifications(filter: { backfill?: string; state?: OutboxState; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.parts.outbox.listNotifications(filter);
  }

  recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    return this.parts.verifications.recordVerification(result);
  }

  listVerifications(runId: string): Promise<VerificationRecord[]> {
    return this.parts.verifications.listVerifications(runId);
  }

  createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    return this.parts.tokens.createToken(token);
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.parts.tokens.getToken(id);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.parts.tokens.listTokens();
  }

  revokeToken(id: string): Promise<boolean> {
    return this.parts.tokens.revokeToken(id);
  }
}
