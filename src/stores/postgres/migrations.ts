import type pg from 'pg';
import { StoreError } from '../../core/errors.js';
import { quoteIdentifier } from '../../core/sql.js';
import { paramsKey } from '../../core/params-key.js';

/**
 * Versioned schema changes, each applied once in its own transaction. Never edit a shipped one.
 * `after` fills what SQL alone cannot compute, in the same transaction.
 */
function migrations(
  schema: string,
): ReadonlyArray<{ version: number; name: string; sql: string; after?: (client: pg.PoolClient) => Promise<void> }> {
  const s = quoteIdentifier(schema, 'schema');
  return [
    {
      version: 1,
      name: 'runs, partitions, transitions, quarantine, ledger',
      sql: `
        CREATE TABLE ${s}.sluice_runs (
          id text PRIMARY KEY,
          backfill text NOT NULL,
          state text NOT NULL,
          params jsonb NOT NULL,
          options jsonb NOT NULL,
          created_by text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          started_at timestamptz,
          finished_at timestamptz,
          reason text,
          control jsonb,
          planned_items bigint
        );
        CREATE INDEX sluice_runs_backfill_state ON ${s}.sluice_runs (backfill, state);
        CREATE TABLE ${s}.sluice_partitions (
          run_id text NOT NULL REFERENCES ${s}.sluice_runs (id),
          idx integer NOT NULL,
          lower jsonb NOT NULL,
          upper jsonb NOT NULL,
          label text,
          cursor jsonb NOT NULL DEFAULT 'null',
          state text NOT NULL DEFAULT 'pending',
          fence bigint NOT NULL DEFAULT 0,
          lease_owner text,
          lease_expires_at timestamptz,
          received bigint NOT NULL DEFAULT 0,
          processed bigint NOT NULL DEFAULT 0,
          skipped bigint NOT NULL DEFAULT 0,
          failed bigint NOT NULL DEFAULT 0,
          quarantined bigint NOT NULL DEFAULT 0,
          batches bigint NOT NULL DEFAULT 0,
          error text,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (run_id, idx)
        );
        CREATE TABLE ${s}.sluice_transitions (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL REFERENCES ${s}.sluice_runs (id),
          from_state text,
          to_state text NOT NULL,
          actor text NOT NULL,
          reason text NOT NULL,
          at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX sluice_transitions_run ON ${s}.sluice_transitions (run_id, id);
        CREATE TABLE ${s}.sluice_quarantine (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL REFERENCES ${s}.sluice_runs (id),
          backfill text NOT NULL,
          partition_idx integer,
          item_key text NOT NULL,
          error_class text NOT NULL,
          message text NOT NULL,
          payload text,
          locator jsonb,
          attempts integer NOT NULL,
          status text NOT NULL DEFAULT 'open',
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (run_id, item_key)
        );
        CREATE INDEX sluice_quarantine_run_status ON ${s}.sluice_quarantine (run_id, status, id);
        CREATE TABLE ${s}.sluice_ledger (
          namespace text NOT NULL,
          item_key text NOT NULL,
          run_id text NOT NULL,
          delivered_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (namespace, item_key)
        );
      `,
    },
    {
      version: 2,
      name: 'concurrency keys on runs, fan-out child on partitions',
      sql: `
        ALTER TABLE ${s}.sluice_runs ADD COLUMN keys jsonb NOT NULL DEFAULT '{}';
        CREATE INDEX sluice_runs_keys ON ${s}.sluice_runs USING gin (keys jsonb_path_ops);
        ALTER TABLE ${s}.sluice_partitions ADD COLUMN child text;
        CREATE INDEX sluice_partitions_running ON ${s}.sluice_partitions (run_id) WHERE state = 'running';
      `,
    },
    {
      version: 3,
      name: 'throttle decisions, live retuning',
      sql: `
        ALTER TABLE ${s}.sluice_runs ADD COLUMN tuning integer NOT NULL DEFAULT 0;
        CREATE TABLE ${s}.sluice_decisions (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL REFERENCES ${s}.sluice_runs (id),
          worker text NOT NULL,
          kind text NOT NULL,
          reason text NOT NULL,
          settings jsonb NOT NULL,
          at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX sluice_decisions_run ON ${s}.sluice_decisions (run_id, id);
      `,
    },
    {
      version: 4,
      name: 'batch history, SLO alerts',
      sql: `
        CREATE TABLE ${s}.sluice_batches (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL REFERENCES ${s}.sluice_runs (id),
          backfill text NOT NULL,
          partition_idx integer NOT NULL,
          worker text NOT NULL,
          finished_at timestamptz NOT NULL,
          duration_ms integer NOT NULL,
          received integer NOT NULL,
          processed integer NOT NULL,
          skipped integer NOT NULL,
          failed integer NOT NULL,
          quarantined integer NOT NULL
        );
        CREATE INDEX sluice_batches_run ON ${s}.sluice_batches (run_id, id);
        CREATE INDEX sluice_batches_window ON ${s}.sluice_batches (backfill, finished_at);
        CREATE TABLE ${s}.sluice_alerts (
          backfill text NOT NULL,
          slo text NOT NULL,
          tier text NOT NULL,
          severity text NOT NULL,
          state text NOT NULL,
          since timestamptz NOT NULL,
          burn_long double precision NOT NULL,
          burn_short double precision,
          summary text NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (backfill, slo, tier)
        );
        CREATE TABLE ${s}.sluice_alert_events (
          id bigserial PRIMARY KEY,
          backfill text NOT NULL,
          slo text NOT NULL,
          tier text NOT NULL,
          severity text NOT NULL,
          from_state text NOT NULL,
          to_state text NOT NULL,
          burn_long double precision NOT NULL,
          burn_short double precision,
          summary text NOT NULL,
          at timestamptz NOT NULL
        );
        CREATE INDEX sluice_alert_events_backfill ON ${s}.sluice_alert_events (backfill, at);
      `,
    },
    {
      version: 5,
      name: 'API tokens',
      sql: `
        CREATE TABLE ${s}.sluice_tokens (
          id text PRIMARY KEY,
          name text NOT NULL,
          scope text NOT NULL,
          hash text NOT NULL,
          created_by text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          revoked_at timestamptz
        );
      `,
    },
    {
      version: 6,
      name: 'verification results',
      sql: `
        CREATE TABLE ${s}.sluice_verifications (
          id bigserial PRIMARY KEY,
          run_id text NOT NULL REFERENCES ${s}.sluice_runs (id),
          check_name text NOT NULL,
          passed boolean NOT NULL,
          detail text NOT NULL,
          actor text NOT NULL,
          at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sluice_verifications_run ON ${s}.sluice_verifications (run_id, id);
      `,
    },
    {
      version: 7,
      name: 'checkpoint refusal raises (so that a refused checkpoint can never commit)',
      // The checkpoint statement calls this when its fenced UPDATE matched no row: the error aborts
      // the transaction, so a COMMIT sent with the checkpoint cannot commit the batch's writes
      // without it. Its code says why: SL001 the cursor moved on under the same lease, SL002 the
      // lease went to someone else.
      sql: `
        CREATE FUNCTION ${s}.sluice_checkpoint_refused(run text, part integer, expected bigint) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $fn$
        DECLARE held bigint;
        BEGIN
          SELECT fence INTO held FROM ${s}.sluice_partitions WHERE run_id = run AND idx = part;
          IF held IS NOT DISTINCT FROM expected THEN
            RAISE EXCEPTION 'checkpoint of run % partition % refused: its cursor moved on', run, part USING ERRCODE = 'SL001';
          END IF;
          RAISE EXCEPTION 'checkpoint of run % partition % refused: the lease (fence %) is no longer held', run, part, expected USING ERRCODE = 'SL002';
        END
        $fn$;
      `,
    },
    {
      version: 8,
      name: 'runs found by their parameters (one open run per backfill and parameters)',
      sql: `
        ALTER TABLE ${s}.sluice_runs ADD COLUMN params_key text NOT NULL DEFAULT '{}';
        CREATE INDEX sluice_runs_backfill_params ON ${s}.sluice_runs (backfill, params_key, created_at);
      `,
      after: async (client) => {
        const { rows } = await client.query<{ id: string; params: { extra?: Record<string, unknown> } }>(
          `SELECT id, params FROM ${s}.sluice_runs`,
        );
        for (const row of rows)
          await client.query(`UPDATE ${s}.sluice_runs SET params_key = $1 WHERE id = $2`, [paramsKey(row.params.extra), row.id]);
      },
    },
    {
      version: 9,
      name: 'alert notification outbox',
      // One row per notification and webhook, written with the alert's transition; an evaluator
      // claims it (FOR UPDATE SKIP LOCKED, then claimed_by until claimed_until), attempts it, and settles it.
      sql: `
        CREATE TABLE ${s}.sluice_alert_notifications (
          id text NOT NULL,
          webhook text NOT NULL,
          backfill text NOT NULL,
          payload jsonb NOT NULL,
          state text NOT NULL DEFAULT 'pending',
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL DEFAULT now(),
          claimed_by text,
          claimed_until timestamptz,
          last_error text,
          created_at timestamptz NOT NULL DEFAULT now(),
          settled_at timestamptz,
          PRIMARY KEY (id, webhook)
        );
        CREATE INDEX sluice_alert_notifications_due ON ${s}.sluice_alert_notifications (backfill, next_attempt_at) WHERE state = 'pending';
      `,
    },
    {
      version: 10,
      name: 'partition heartbeats and split parents',
      // heartbeat_at: when the lease was last claimed, renewed or checkpointed (the database's
      // clock), for \`status\`. split_from: the partition a split carved this one out of.
      sql: `
        ALTER TABLE ${s}.sluice_partitions ADD COLUMN heartbeat_at timestamptz, ADD COLUMN split_from integer;
      `,
    },
    {
      version: 11,
      name: "rollout budgets of the whole run: a canary's items, a gradual rollout's lanes",
      // canary_left: items of the canary not yet claimed (claims outstanding sit on the partitions
      // that made them, in canary_claim, until their batch commits); ramp_lanes: the live leases a
      // gradual rollout lets the run hold now, over every worker.
      sql: `
        ALTER TABLE ${s}.sluice_runs ADD COLUMN canary_items integer, ADD COLUMN canary_left integer, ADD COLUMN ramp_lanes integer;
        ALTER TABLE ${s}.sluice_partitions ADD COLUMN canary_claim integer NOT NULL DEFAULT 0;
      `,
    },
    {
      version: 12,
      name: 'retried attempts of each batch, by error class',
      // {"<error class>": attempts that failed and were tried again} of a batch; NULL when none.
      sql: `ALTER TABLE ${s}.sluice_batches ADD COLUMN retries jsonb;`,
    },
  ];
}

/** Applies pending migrations under an advisory lock, so that workers starting together do not race. */
export async function migrate(client: pg.PoolClient, schema: string): Promise<void> {
  const s = quoteIdentifier(schema, 'schema');
  const list = migrations(schema);
  const latest = list[list.length - 1]!.version;
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [`sluice-migrate:${schema}`]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.sluice_schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${s}.sluice_schema_migrations`);
    const current = rows[0]?.v ?? 0;
    if (current > latest) {
      throw new StoreError(`schema ${schema} has Sluice schema version ${current}, newer than this Sluice knows (${latest})`, {
        hint: 'upgrade Sluice to the version that wrote this store',
      });
    }
    for (const migration of list) {
      if (migration.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await migration.after?.(client);
        await client.query(`INSERT INTO ${s}.sluice_schema_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`sluice-migrate:${schema}`]);
  }
}
