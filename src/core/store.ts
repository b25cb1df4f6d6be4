import type { AlertOutbox } from './store/alert-outbox.js';
import type { ApiTokens } from './store/api-tokens.js';
import type { BatchCommit } from './store/batch-commit.js';
import type { BatchHistory } from './store/batch-history.js';
import type { StoreDatabase } from './store/database.js';
import type { PartitionLeases } from './store/partition-leases.js';
import type { QuarantineReads } from './store/quarantine-reads.js';
import type { RolloutBudgets } from './store/rollout-budgets.js';
import type { RunStore } from './store/runs.js';
import type { SloAlerts } from './store/slo-alerts.js';
import type { Verifications } from './store/verifications.js';

export type { AlertOutbox } from './store/alert-outbox.js';
export type { ApiTokens } from './store/api-tokens.js';
export type { BatchCommit, CheckpointSeen, CheckpointWrite, StoreTransaction, TransactionOptions } from './store/batch-commit.js';
export type { BatchHistory } from './store/batch-history.js';
export type { StoreDatabase } from './store/database.js';
export type { ClaimScope, PartitionLeases } from './store/partition-leases.js';
export type { QuarantineFilter, QuarantineReads } from './store/quarantine-reads.js';
export type { RolloutBudgets } from './store/rollout-budgets.js';
export type { NewRun, RunFilter, RunStore } from './store/runs.js';
export type { SloAlerts } from './store/slo-alerts.js';
export type { Verifications } from './store/verifications.js';

/**
 * Where runs, partitions, checkpoints, the transition log, quarantine and the dedup ledger live.
 * The core owns these ports, one per part of Sluice that uses them (src/core/store/); a store
 * implements them all (`stores/sqlite`, `stores/postgres`), and each engine port has a contract
 * test that runs against every implementation. A caller that needs only some parts asks for those
 * ports, so that a reader sees what it touches and a test double stays small.
 *
 * Concurrency: every method may be called concurrently from several async lanes of one process.
 * Implementations serialise what their database needs serialised (SQLite: one writer).
 */
export interface Store
  extends StoreDatabase,
    RunStore,
    RolloutBudgets,
    PartitionLeases,
    BatchCommit,
    QuarantineReads,
    BatchHistory,
    SloAlerts,
    AlertOutbox,
    Verifications,
    ApiTokens {}
