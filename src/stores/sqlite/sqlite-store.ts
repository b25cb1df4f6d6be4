import { StoreApiTokens } from '../shared/api-tokens.js';
import { ComposedStore } from '../shared/composed-store.js';
import { StoreQuarantineReads } from '../shared/quarantine-reads.js';
import { StoreVerifications } from '../shared/verifications.js';
import { SqliteAlertOutbox } from './alert-outbox.js';
import { SqliteBatchCommit } from './batch-commit.js';
import { SqliteBatchHistory } from './batch-history.js';
import { SqlitePartitionLeases } from './partition-leases.js';
import { SqliteRolloutBudgets } from './rollout-budgets.js';
import { SqliteRuns } from './runs.js';
import { SqliteSloAlerts } from './slo-alerts.js';
import { SqliteStoreFile, type SqliteStoreOptions } from './store-file.js';
import { SqliteStatements } from './store-statements.js';

export type { SqliteStoreOptions } from './store-file.js';

/** Opens (creating it and its directory when needed) the embedded store: one SQLite file in WAL mode. */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  return new SqliteStore(path, options);
}

/**
 * The embedded store: one SQLite file in WAL mode (`SqliteStoreFile`: its connections, write lock
 * and clock), and one module per port of the store, each working on that file. The ports whose
 * statements both stores share (src/stores/shared/) run them through `SqliteStatements`.
 */
export class SqliteStore extends ComposedStore {
  readonly dialect = 'sqlite' as const;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    const file = new SqliteStoreFile(path, options);
    const statements = new SqliteStatements(file);
    super({
      database: file,
      runs: new SqliteRuns(file),
      rollout: new SqliteRolloutBudgets(file),
      leases: new SqlitePartitionLeases(file),
      commit: new SqliteBatchCommit(file),
      quarantine: new StoreQuarantineReads(statements),
      history: new SqliteBatchHistory(file),
      alerts: new SqliteSloAlerts(file),
      outbox: new SqliteAlertOutbox(file),
      verifications: new StoreVerifications(statements),
      tokens: new StoreApiTokens(statements),
    });
  }
}
