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
  QuarantineStatus,
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
import type { SqlConnection } from '../../core/sql.js';
import type { ClaimScope, NewRun, RunFilter, Store, StoreTransaction, TransactionOptions } from '../../core/store.js';
import type { VerificationRecord } from '../../core/verify.js';
import { SqliteAlertOutbox } from './alert-outbox.js';
import { SqliteApiTokens } from './api-tokens.js';
import { SqliteBatchCommit } from './batch-commit.js';
import { SqliteBatchHistory } from './batch-history.js';
import { SqlitePartitionLeases } from './partition-leases.js';
import { SqliteQuarantineReads } from './quarantine-reads.js';
import { SqliteRolloutBudgets } from './rollout-budgets.js';
import { SqliteRuns } from './runs.js';
import { SqliteSloAlerts } from './slo-alerts.js';
import { SqliteStoreFile, type SqliteStoreOptions } from './store-file.js';
import { SqliteVerifications } from './verifications.js';

export type { SqliteStoreOptions } from './store-file.js';

/** Opens (creating it and its directory when needed) the embedded store: one SQLite file in WAL mode. */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  return new SqliteStore(path, options);
}

/**
 * The embedded store: one SQLite file in WAL mode (`SqliteStoreFile`: its connections, write lock
 * and clock), and one module per port of the store, each working on that file. This class only
 * composes them.
 */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly location: string;
  private readonly file: SqliteStoreFile;
  private readonly tokens: SqliteApiTokens;
  private readonly verifications: SqliteVerifications;
  private readonly alerts: SqliteSloAlerts;
  private readonly outbox: SqliteAlertOutbox;
  private readonly history: SqliteBatchHistory;
  private readonly quarantine: SqliteQuarantineReads;
  private readonly runs: SqliteRuns;
  private readonly rollout: SqliteRolloutBudgets;
  private readonly leases: SqlitePartitionLeases;
  private readonly commit: SqliteBatchCommit;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.file = new SqliteStoreFile(path, options);
    this.location = this.file.location;
    this.tokens = new SqliteApiTokens(this.file);
    this.verifications = new SqliteVerifications(this.file);
    this.alerts = new SqliteSloAlerts(this.file);
    this.outbox = new SqliteAlertOutbox(this.file);
    this.history = new SqliteBatchHistory(this.file);
    this.quarantine = new SqliteQuarantineReads(this.file);
    this.runs = new SqliteRuns(this.file);
    this.rollout = new SqliteRolloutBudgets(this.file);
    this.leases = new SqlitePartitionLeases(this.file);
    this.commit = new SqliteBatchCommit(this.file);
  }

  /** See `SqliteStoreFile.readConnection`: the write connection, taken in turn with the writes. */
  readConnection(): SqlConnection {
    return this.file.readConnection();
  }

  clockNow(): Promise<number> {
    return this.file.clockNow();
  }

  /** Waits for writes already queued (an open batch transaction included), then closes both connections. Idempotent. */
  close(): Promise<void> {
    return this.file.close();
  }

  createRun(input: NewRun): Promise<RunRecord> {
    return this.runs.createRun(input);
  }

  createRunOnce(input: NewRun, options: { orSucceeded: boolean }): Promise<{ run: RunRecord; created: boolean }> {
    return this.runs.createRunOnce(input, options);
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.runs.getRun(runId);
  }

  listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.runs.listRuns(filter);
  }

  transitionRun(runId: string, from: readonly RunState[], to: RunState, actor: string, reason: string): Promise<RunRecord | undefined> {
    return this.runs.transitionRun(runId, from, to, actor, reason);
  }

  startRun(runId: string, from: readonly RunState[], actor: string, reason: string, limits: ConcurrencyLimits): Promise<StartResult> {
    return this.runs.startRun(runId, from, actor, reason, limits);
  }

  listTransitions(runId: string): Promise<TransitionRecord[]> {
    return this.runs.listTransitions(runId);
  }

  updateRunOptions(runId: string, patch: Partial<RunOptions>): Promise<RunRecord> {
    return this.runs.updateRunOptions(runId, patch);
  }

  recordDecision(runId: string, decision: { worker: string; kind: string; reason: string; settings: object }): Promise<void> {
    return this.runs.recordDecision(runId, decision);
  }

  listDecisions(runId: string, limit = 50): Promise<DecisionRecord[]> {
    return this.runs.listDecisions(runId, limit);
  }

  setControl(runId: string, control: RunControl | null): Promise<void> {
    return this.runs.setControl(runId, control);
  }

  setPlannedItems(runId: string, plannedItems: number): Promise<boolean> {
    return this.runs.setPlannedItems(runId, plannedItems);
  }

  setRollout(runId: string, rollout: RolloutSettings): Promise<RunRecord> {
    return this.rollout.setRollout(runId, rollout);
  }

  claimCanaryItems(lease: PartitionLease, want: number): Promise<CanaryClaim> {
    return this.rollout.claimCanaryItems(lease, want);
  }

  moveRamp(runId: string, move: RampMove): Promise<boolean> {
    return this.rollout.moveRamp(runId, move);
  }

  listPartitions(runId: string): Promise<PartitionRecord[]> {
    return this.leases.listPartitions(runId);
  }

  claimPartition(runId: string, owner: string, leaseMs: number, scope: ClaimScope = {}): Promise<PartitionLease | undefined> {
    return this.leases.claimPartition(runId, owner, leaseMs, scope);
  }

  claimPartitionWithin(
    runId: string,
    owner: string,
    leaseMs: number,
    limits: ConcurrencyLimits,
    scope: ClaimScope = {},
  ): Promise<ClaimResult> {
    return this.leases.claimPartitionWithin(runId, owner, leaseMs, limits, scope);
  }

  renewLease(lease: PartitionLease, leaseMs: number): Promise<boolean> {
    return this.leases.renewLease(lease, leaseMs);
  }

  releasePartition(lease: PartitionLease, state: Exclude<PartitionState, 'running'>, error?: string): Promise<boolean> {
    return this.leases.releasePartition(lease, state, error);
  }

  splitPartition(
    runId: string,
    index: number,
    observed: { batches: number; upper: Cursor },
    at: Cursor,
    label: string | null,
  ): Promise<number | undefined> {
    return this.leases.splitPartition(runId, index, observed, at, label);
  }

  expireLeases(isDead: (owner: string) => boolean): Promise<number> {
    return this.leases.expireLeases(isDead);
  }

  resetFailedPartitions(runId: string): Promise<number> {
    return this.leases.resetFailedPartitions(runId);
  }

  transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.commit.transaction(work, options);
  }

  deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    return this.commit.deliveredKeys(namespace, keys);
  }

  listQuarantine(filter: {
    runId?: string;
    backfill?: string;
    status?: QuarantineStatus;
    errorClass?: string;
    limit?: number;
    afterId?: number;
  }): Promise<QuarantineRecord[]> {
    return this.quarantine.listQuarantine(filter);
  }

  quarantineSummary(filter: { runId?: string; backfill?: string }): Promise<Array<{ errorClass: string; count: number }>> {
    return this.quarantine.quarantineSummary(filter);
  }

  listBatches(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<BatchRecord[]> {
    return this.history.listBatches(runId, options);
  }

  batchWindow(backfill: string, sinceMs: number, slowAboveMs: number): Promise<BatchWindow> {
    return this.history.batchWindow(backfill, sinceMs, slowAboveMs);
  }

  listAlerts(backfill?: string): Promise<AlertRecord[]> {
    return this.alerts.listAlerts(backfill);
  }

  changeAlert(change: AlertChange, notify?: NewNotification): Promise<boolean> {
    return this.alerts.changeAlert(change, notify);
  }

  listAlertEvents(
    filter: { backfill?: string; alert?: AlertKey; sinceMs?: number; untilMs?: number; limit?: number } = {},
  ): Promise<AlertEventRecord[]> {
    return this.alerts.listAlertEvents(filter);
  }

  claimNotifications(claim: OutboxClaim): Promise<ClaimedNotifications> {
    return this.outbox.claimNotifications(claim);
  }

  reviseNotification(owner: string, id: string, notification: OutboxRecord['notification']): Promise<boolean> {
    return this.outbox.reviseNotification(owner, id, notification);
  }

  settleNotification(owner: string, id: string, webhook: string, settlement: OutboxSettlement): Promise<boolean> {
    return this.outbox.settleNotification(owner, id, webhook, settlement);
  }

  listNotifications(filter: { backfill?: string; state?: OutboxState; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.outbox.listNotifications(filter);
  }

  recordVerification(result: Omit<VerificationRecord, 'at'>): Promise<void> {
    return this.verifications.recordVerification(result);
  }

  listVerifications(runId: string): Promise<VerificationRecord[]> {
    return this.verifications.listVerifications(runId);
  }

  createToken(token: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord> {
    return this.tokens.createToken(token);
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.tokens.getToken(id);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.tokens.listTokens();
  }

  revokeToken(id: string): Promise<boolean> {
    return this.tokens.revokeToken(id);
  }
}
