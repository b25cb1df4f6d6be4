import type { Database } from 'better-sqlite3';
import { StoreError } from '../../core/errors.js';
import { paramsKey } from '../../core/params-key.js';

/**
 * Versioned schema changes, applied in order. Append new ones; never edit a shipped one. `after`
 * fills what SQL alone cannot compute, in the same transaction.
 */
const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string; after?: (db: Database) => void }> = [
  {
    version: 1,
    name: 'runs, partitions, transitions, quarantine, ledger',
    sql: `
      CREATE TABLE sluice_runs (
        id TEXT PRIMARY KEY,
        backfill TEXT NOT NULL,
        state TEXT NOT NULL,
        params TEXT NOT NULL,
        options TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        reason TEXT,
        control TEXT,
        planned_items INTEGER
      );
      CREATE INDEX sluice_runs_backfill_state ON sluice_runs (backfill, state);
      CREATE TABLE sluice_partitions (
        run_id TEXT NOT NULL REFERENCES sluice_runs (id),
        idx INTEGER NOT NULL,
        lower TEXT NOT NULL,
        upper TEXT NOT NULL,
        label TEXT,
        cursor TEXT NOT NULL DEFAULT 'null',
        state TEXT NOT NULL DEFAULT 'pending',
        fence INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        received INTEGER NOT NULL DEFAULT 0,
        processed INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        quarantined INTEGER NOT NULL DEFAULT 0,
        batches INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, idx)
      );
      CREATE TABLE sluice_transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES sluice_runs (id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE INDEX sluice_transitions_run ON sluice_transitions (run_id, id);
      CREATE TABLE sluice_quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES sluice_runs (id),
        backfill TEXT NOT NULL,
        partition_idx INTEGER,
        item_key TEXT NOT NULL,
        error_class TEXT NOT NULL,
        message TEXT NOT NULL,
        payload TEXT,
        locator TEXT,
        attempts INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (run_id, item_key)
      );
      CREATE INDEX sluice_quarantine_run_status ON sluice_quarantine (run_id, status, id);
      CREATE TABLE sluice_ledger (
        namespace TEXT NOT NULL,
        item_key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        PRIMARY KEY (namespace, item_key)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'concurrency keys on runs, fan-out child on partitions',
    sql: `
      ALTER TABLE sluice_runs ADD COLUMN keys TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE sluice_partitions ADD COLUMN child TEXT;
      CREATE INDEX sluice_partitions_running ON sluice_partitions (state, run_id);
    `,
  },
  {
    version: 3,
    name: 'throttle decisions, live retuning',
    sql: `
      ALTER TABLE sluice_runs ADD COLUMN tuning INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE sluice_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES sluice_runs (id),
        worker TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        settings TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE INDEX sluice_decisions_run ON sluice_decisions (run_id, id);
    `,
  },
  {
    version: 4,
    name: 'batch history, SLO alerts',
    sql: `
      CREATE TABLE sluice_batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES sluice_runs (id),
        backfill TEXT NOT NULL,
        partition_idx INTEGER NOT NULL,
        worker TEXT NOT NULL,
        finished_ms INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        received INTEGER NOT NULL,
        processed INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        quarantined INTEGER NOT NULL
      );
      CREATE INDEX sluice_batches_run ON sluice_batches (run_id, id);
      CREATE INDEX sluice_batches_window ON sluice_batches (backfill, finished_ms);
      CREATE TABLE sluice_alerts (
        backfill TEXT NOT NULL,
        slo TEXT NOT NULL,
        tier TEXT NOT NULL,
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        burn_long REAL NOT NULL,
        burn_short REAL,
        summary TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (backfill, slo, tier)
      ) WITHOUT ROWID;
      CREATE TABLE sluice_alert_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        backfill TEXT NOT NULL,
        slo TEXT NOT NULL,
        tier TEXT NOT NULL,
        severity TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        burn_long REAL NOT NULL,
        burn_short REAL,
        summary TEXT NOT NULL,
        at_ms INTEGER NOT NULL
      );
      CREATE INDEX sluice_alert_events_backfill ON sluice_alert_events (backfill, at_ms);
    `,
  },
  {
    version: 5,
    name: 'API tokens',
    sql: `
      CREATE TABLE sluice_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scope TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    name: 'verification results',
    sql: `
      CREATE TABLE sluice_verifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES sluice_runs (id),
        check_name TEXT NOT NULL,
        passed INTEGER NOT NULL,
        detail TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE INDEX sluice_verifications_run ON sluice_verifications (run_id, id);
    `,
  },
  {
    version: 7,
    name: 'runs found by their parameters (one open run per backfill and parameters)',
    sql: `
      ALTER TABLE sluice_runs ADD COLUMN params_key TEXT NOT NULL DEFAULT '{}';
      CREATE INDEX sluice_runs_backfill_params ON sluice_runs (backfill, params_key, created_at);
    `,
    after: (db) => {
      const update = db.prepare('UPDATE sluice_runs SET params_key = ? WHERE id = ?');
      for (const row of db.prepare('SELECT id, params FROM sluice_runs').all() as Array<{ id: string; params: string }>) {
        update.run(paramsKey((JSON.parse(row.params) as { extra?: Record<string, unknown> }).extra), row.id);
      }
    },
  },
  {
    version: 8,
    name: 'alert notification outbox',
    // One row per notification and webhook, written with the alert's transition; an evaluator
    // claims it (claimed_by until claimed_until_ms), attempts it, and settles it.
    sql: `
      CREATE TABLE sluice_alert_notifications (
        id TEXT NOT NULL,
        webhook TEXT NOT NULL,
        backfill TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        claimed_by TEXT,
        claimed_until_ms INTEGER,
        last_error TEXT,
        created_ms INTEGER NOT NULL,
        settled_ms INTEGER,
        PRIMARY KEY (id, webhook)
      );
      CREATE INDEX sluice_alert_notifications_due ON sluice_alert_notifications (backfill, next_attempt_ms) WHERE state = 'pending';
    `,
  },
  {
    version: 9,
    name: 'partition heartbeats and split parents',
    // heartbeat_at: when the lease was last claimed, renewed or checkpointed (ms), for `status`.
    // split_from: the partition a split carved this one out of.
    sql: `
      ALTER TABLE sluice_partitions ADD COLUMN heartbeat_at INTEGER;
      ALTER TABLE sluice_partitions ADD COLUMN split_from INTEGER;
    `,
  },
  {
    version: 10,
    name: "rollout budgets of the whole run: a canary's items, a gradual rollout's lanes",
    // canary_left: items of the canary not yet claimed (claims outstanding sit on the partitions
    // that made them, in canary_claim, until their batch commits); ramp_lanes: the live leases a
    // gradual rollout lets the run hold now, over every worker.
    sql: `
      ALTER TABLE sluice_runs ADD COLUMN canary_items INTEGER;
      ALTER TABLE sluice_runs ADD COLUMN canary_left INTEGER;
      ALTER TABLE sluice_runs ADD COLUMN ramp_lanes INTEGER;
      ALTER TABLE sluice_partitions ADD COLUMN canary_claim INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 11,
    name: 'retried attempts of each batch, by error class',
    // JSON {"<error class>": attempts that failed and were tried again} of a batch; NULL when none.
    sql: `ALTER TABLE sluice_batches ADD COLUMN retries TEXT;`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Applies the migrations this file has not seen yet, all in one `BEGIN IMMEDIATE` transaction, and
 * refuses a file written by a newer Sluice. The version is read once without a write lock first, so
 * that opening an up-to-date store (`sluice status` while a run is writing) never waits for the
 * writer; it is read again under the lock, so that two processes opening a new file together
 * migrate it once.
 */
export function migrate(db: Database, path: string): void {
  if (versionOf(db, path) === SCHEMA_VERSION) return;
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS sluice_schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const current = versionOf(db, path);
    const record = db.prepare('INSERT INTO sluice_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      migration.after?.(db);
      record.run(migration.version, migration.name, new Date().toISOString());
    }
  }).immediate();
}

/** The schema version of the file: 0 for a database Sluice has never written to. */
function versionOf(db: Database, path: string): number {
  const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sluice_schema_migrations'").get();
  if (!table) return 0;
  const current = (db.prepare('SELECT MAX(version) AS v FROM sluice_schema_migrations').get() as { v: number | null }).v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new StoreError(
      `store ${path} has schema version ${current}, newer than this Sluice knows (${SCHEMA_VERSION}); upgrade Sluice to use it`,
      {
        hint: 'upgrade Sluice to the version that wrote this store (or later)',
      },
    );
  }
  return current;
}
