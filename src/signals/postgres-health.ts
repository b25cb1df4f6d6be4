import pg from 'pg';
import type { HealthSignal, SignalLevel, SignalReading } from '../core/throttle/signal.js';

export interface PostgresHealthOptions {
  /** The target database (`postgres://…`); the signal opens one connection of its own (`sluice:health`). */
  connectionString: string;
  /** Stop when client connections reach this share of `max_connections` (seed 001's 80 %). Default 0.8. */
  maxConnectionsRatio?: number;
  /** Slow down while another transaction in this database has been open longer than this. Default 60 s. */
  longTransactionMs?: number;
  /** Slow down while more sessions than this wait on locks in this database. Default 0. */
  maxLockWaiters?: number;
  /** Stop while a replica lags (or, on a replica, this server lags) more than this. Default 30 s. */
  maxReplicationLagMs?: number;
  /** Slow down while autovacuum works on this table (the backfill's target). */
  table?: string;
  /** A reading that cannot be taken (the database is unreachable): `stop` by default, the database is what this guards. */
  onError?: 'continue' | 'stop';
  name?: string;
}

interface Row {
  clients: number;
  max_connections: number;
  oldest_xact_s: number | null;
  oldest_pid: number | null;
  lock_waiters: number;
  in_recovery: boolean;
  replay_lag_s: number | null;
  replica_lag_s: number | null;
  autovacuum: boolean;
}

/**
 * The target PostgreSQL's health, read in one query: the share of connections in use (stop at
 * 80 %), long transactions and lock waits in the target database (slow), replication lag (stop),
 * and autovacuum on the target table (slow). Sluice's own sessions (`sluice:…`) are not counted
 * as long transactions or lock waiters: the backfill must not throttle on itself.
 */
export function postgresHealth(options: PostgresHealthOptions): HealthSignal {
  const maxRatio = options.maxConnectionsRatio ?? 0.8;
  const longMs = options.longTransactionMs ?? 60_000;
  const maxWaiters = options.maxLockWaiters ?? 0;
  const maxLagMs = options.maxReplicationLagMs ?? 30_000;
  let client: pg.Client | undefined;
  const connect = async () => {
    if (client) return client;
    const fresh = new pg.Client({
      connectionString: options.connectionString,
      application_name: 'sluice:health',
      connectionTimeoutMillis: 5000,
    });
    fresh.on('error', () => {
      if (client === fresh) client = undefined; // a dropped connection is replaced at the next reading
    });
    await fresh.connect();
    client = fresh;
    return fresh;
  };
  return {
    name: options.name ?? 'postgres',
    onError: options.onError ?? 'stop',
    async read(): Promise<SignalReading> {
      const c = await connect();
      let row: Row;
      try {
        row = (await c.query<Row>(HEALTH_SQL, [options.table ?? null])).rows[0]!;
      } catch (error) {
        await c.end().catch(() => undefined);
        client = undefined;
        throw error;
      }
      const findings: Array<{ level: SignalLevel; reason: string }> = [];
      const ratio = row.clients / row.max_connections;
      if (ratio >= maxRatio)
        findings.push({
          level: 'stop',
          reason: `db connections ${Math.round(ratio * 100)} % ≥ ${Math.round(maxRatio * 100)} % (${row.clients} of ${row.max_connections})`,
        });
      const lagS = row.in_recovery ? row.replay_lag_s : row.replica_lag_s;
      if (lagS !== null && lagS * 1000 > maxLagMs)
        findings.push({
          level: 'stop',
          reason: `replication lag ${lagS.toFixed(1)} s > ${maxLagMs / 1000} s${row.in_recovery ? ' (this replica)' : ' (a replica)'}`,
        });
      if (row.oldest_xact_s !== null && row.oldest_xact_s * 1000 > longMs)
        findings.push({
          level: 'slow',
          reason: `a transaction has been open ${Math.round(row.oldest_xact_s)} s > ${longMs / 1000} s (pid ${row.oldest_pid})`,
        });
      if (row.lock_waiters > maxWaiters)
        findings.push({
          level: 'slow',
          reason: `${row.lock_waiters} session${row.lock_waiters === 1 ? '' : 's'} waiting on locks (> ${maxWaiters})`,
        });
      if (row.autovacuum) findings.push({ level: 'slow', reason: `autovacuum is running on ${options.table}` });
      const worst = findings.find((f) => f.level === 'stop') ?? findings[0];
      if (worst)
        return {
          level: worst.level,
          reason:
            findings.length > 1
              ? `${worst.reason} (and ${findings.length - 1} more: ${findings
                  .filter((f) => f !== worst)
                  .map((f) => f.reason)
                  .join('; ')})`
              : worst.reason,
        };
      return { level: 'ok', reason: `db connections ${Math.round(ratio * 100)} % (${row.clients} of ${row.max_connections})` };
    },
    async close() {
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}

const HEALTH_SQL = `
  WITH activity AS (SELECT * FROM pg_stat_activity WHERE pid <> pg_backend_pid())
  SELECT
    (SELECT count(*) FROM activity WHERE backend_type = 'client backend')::int + 1 AS clients,
    current_setting('max_connections')::int AS max_connections,
    (SELECT extract(epoch FROM now() - xact_start) FROM activity
      WHERE datname = current_database() AND xact_start IS NOT NULL AND backend_type = 'client backend'
        AND application_name NOT LIKE 'sluice:%' ORDER BY xact_start LIMIT 1)::float8 AS oldest_xact_s,
    (SELECT pid FROM activity
      WHERE datname = current_database() AND xact_start IS NOT NULL AND backend_type = 'client backend'
        AND application_name NOT LIKE 'sluice:%' ORDER BY xact_start LIMIT 1) AS oldest_pid,
    (SELECT count(*) FROM activity WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND application_name NOT LIKE 'sluice:%')::int AS lock_waiters,
    pg_is_in_recovery() AS in_recovery,
    CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS replay_lag_s,
    (SELECT max(extract(epoch FROM replay_lag))::float8 FROM pg_stat_replication) AS replica_lag_s,
    COALESCE((SELECT true FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a ON a.pid = v.pid
      WHERE $1::text IS NOT NULL AND v.relid = to_regclass($1::text) AND a.backend_type = 'autovacuum worker' LIMIT 1), false) AS autovacuum`;
