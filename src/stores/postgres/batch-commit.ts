import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Cursor, ItemKey } from '../../core/cursor.js';
import { CheckpointMovedError, LeaseLostError, StoreError } from '../../core/errors.js';
import type { RunState } from '../../core/run-state.js';
import type { RunControl } from '../../core/run.js';
import type { BatchCommit, CheckpointSeen, CheckpointWrite, StoreTransaction, TransactionOptions } from '../../core/store.js';
import { PostgresConnection } from './postgres-connection.js';
import type { PostgresStoreSchema, TransactionEnding } from './store-schema.js';

/** The batch transaction on one pooled connection: the user's writes, the checkpoint (with the batch's history row and ledger keys in one statement) and quarantine rows commit together. */
export class PostgresBatchCommit implements BatchCommit {
  private savepoints = 0;
  private readonly checkpointTexts: Array<string | undefined> = [];
  private readonly statementNames = new Map<string, string>();
  private readonly prepared = new WeakMap<pg.PoolClient, Set<string>>();

  constructor(private readonly db: PostgresStoreSchema) {}

  async transaction<T>(work: (tx: StoreTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.db.inTransaction(
      (client, ending) => work(this.transactionApi(client, options.rollback ? undefined : ending)),
      options.rollback,
      options.redoable ? this.db.beginBatch : 'BEGIN',
    );
  }

  async deliveredKeys(namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    return this.delivered(this.db.pool, namespace, keys);
  }

  /** `ending`: where the checkpoint notes that it committed the transaction itself (absent: it may not). */
  private transactionApi(client: pg.PoolClient, ending?: TransactionEnding): StoreTransaction {
    return {
      sql: new PostgresConnection(client, this.db.userTimeoutMs),
      savepoint: async <T>(work: () => Promise<T>) => {
        const name = `sluice_sp_${++this.savepoints}`;
        await client.query(`SAVEPOINT ${name}`);
        try {
          const result = await work();
          await client.query(`RELEASE SAVEPOINT ${name}`);
          return result;
        } catch (error) {
          await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
          await client.query(`RELEASE SAVEPOINT ${name}`);
          throw error;
        }
      },
      deliveredKeys: (namespace, keys) => this.delivered(client, namespace, keys),
      checkpoint: (write) => this.checkpoint(client, write, ending),
      markReplayed: (runId, ids, ledger) => this.markReplayed(client, runId, ids, ledger),
      recordDelivered: (runId, ledger) => this.markReplayed(client, runId, [], ledger),
      recordReplayFailure: async (id, errorClass, message) => {
        await client.query(
          `UPDATE ${this.db.t.quarantine} SET attempts = attempts + 1, error_class = $2, message = $3, updated_at = now() WHERE id = $1`,
          [id, errorClass, message],
        );
      },
    };
  }

  /**
   * The per-batch hot path: one fenced UPDATE that also reads the control request, with the
   * batch's history row and ledger keys, then any quarantine rows. When the checkpoint is the last
   * thing the transaction does and its statement is already prepared on this connection, the
   * COMMIT goes with it in one round trip (`EXECUTE …; COMMIT`): the statement raises when the
   * fence or the cursor refuses the checkpoint, so the COMMIT never runs without it.
   */
  private async checkpoint(client: pg.PoolClient, write: CheckpointWrite, ending?: TransactionEnding): Promise<CheckpointSeen> {
    const { lease, delta, stats } = write;
    const ledgerKeys = write.ledger?.keys ?? [];
    const params: unknown[] = [
      lease.runId,
      lease.index,
      lease.fence,
      JSON.stringify(write.cursor ?? null),
      delta.received,
      delta.processed,
      delta.skipped,
      delta.failed,
      delta.quarantined,
      write.done,
      write.leaseMs,
      JSON.stringify(write.previousCursor ?? null),
    ];
    if (stats)
      params.push(
        stats.worker,
        stats.finishedAtMs,
        Math.max(0, Math.round(stats.finishedAtMs - stats.startedAtMs)),
        stats.retries ? JSON.stringify(stats.retries) : null,
      );
    if (ledgerKeys.length > 0) params.push(write.ledger!.namespace, ledgerKeys);
    const statement = this.statement(this.checkpointSql(stats !== undefined, ledgerKeys.length > 0), params);
    const quarantine = write.quarantine ?? [];
    type Seen = { control: RunControl | null; backfill: string; state: RunState; upper: Cursor; tuning: number; ramp_lanes: number | null };
    let seen: Seen | undefined;
    if (write.canaryUsed !== undefined) {
      // Before the checkpoint zeroes the partition's claim (fenced: a stale lease returns nothing,
      // and its checkpoint then fails): what the batch did not use returns to the run's budget.
      await client.query(
        `UPDATE ${this.db.t.runs} r SET canary_left = r.canary_left + GREATEST(p.canary_claim - $4, 0)
          FROM ${this.db.t.partitions} p WHERE r.id = $1 AND r.canary_left IS NOT NULL AND p.run_id = $1 AND p.idx = $2 AND p.fence = $3`,
        [lease.runId, lease.index, lease.fence, write.canaryUsed],
      );
    }
    try {
      if (ending && quarantine.length === 0 && statement.name !== undefined && this.preparedOn(client).has(statement.name)) {
        const [result] = (await client.query(
          `EXECUTE ${statement.name}(${params.map((v) => sqlLiteral(client, v)).join(', ')}); COMMIT`,
        )) as unknown as [pg.QueryResult<Seen>];
        ending.committed = true;
        seen = result.rows[0];
      } else {
        seen = (await client.query<Seen>(statement)).rows[0];
        if (statement.name !== undefined) this.preparedOn(client).add(statement.name);
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'SL001') throw new CheckpointMovedError(lease.runId, lease.index);
      if (code === 'SL002') throw new LeaseLostError(lease.runId, lease.index, lease.fence);
      throw error;
    }
    if (!seen) throw new StoreError(`the checkpoint of run ${lease.runId} partition ${lease.index} returned no row`);
    if (quarantine.length > 0) {
      const q = quarantine;
      await client.query(
        `INSERT INTO ${this.db.t.quarantine} (run_id, backfill, partition_idx, item_key, error_class, message, payload, locator, attempts)
          SELECT $1, $2, $3, k, c, m, p, l, a FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::int[]) AS x(k, c, m, p, l, a)
          ON CONFLICT (run_id, item_key) DO UPDATE SET error_class = excluded.error_class, message = excluded.message, payload = excluded.payload,
            locator = excluded.locator, attempts = ${this.db.t.quarantine}.attempts + excluded.attempts, status = 'open', updated_at = now()`,
        [
          lease.runId,
          seen.backfill,
          lease.index,
          q.map((e) => e.itemKey),
          q.map((e) => e.errorClass),
          q.map((e) => e.message),
          q.map((e) => e.payload),
          q.map((e) => (e.locator === undefined ? null : JSON.stringify(e.locator))),
          q.map((e) => e.attempts),
        ],
      );
    }
    return { control: seen.control, runState: seen.state, upper: seen.upper, tuning: seen.tuning, rampLanes: seen.ramp_lanes };
  }

  /** The names of the statements prepared on this connection (a new connection has none). */
  private preparedOn(client: pg.PoolClient): Set<string> {
    let names = this.prepared.get(client);
    if (!names) {
      names = new Set();
      this.prepared.set(client, names);
    }
    return names;
  }

  /**
   * The checkpoint statement, with the batch's history row and its ledger keys only when it has
   * them: one round trip, whose INSERTs read `cp`, so that a checkpoint the fence or the cursor
   * refuses writes neither history nor ledger, and raises (SL001, SL002), which aborts the
   * transaction (a COMMIT sent with it does not run, and the caller rolls back). An
   * INSERT with nothing to insert is not free: planned and executed per batch, an empty ledger
   * CTE cost a third of the statement's time at four lanes.
   */
  private checkpointSql(history: boolean, ledger: boolean): string {
    const key = (history ? 1 : 0) + (ledger ? 2 : 0);
    const cached = this.checkpointTexts[key];
    if (cached) return cached;
    const ledgerParams = history ? ['$17', '$18'] : ['$13', '$14'];
    const text = `WITH cp AS (
         UPDATE ${this.db.t.partitions} p SET cursor = $4, received = p.received + $5, processed = p.processed + $6, skipped = p.skipped + $7,
            failed = p.failed + $8, quarantined = p.quarantined + $9, batches = p.batches + 1,
            state = CASE WHEN $10 THEN 'done' ELSE p.state END,
            lease_owner = CASE WHEN $10 THEN NULL ELSE p.lease_owner END,
            lease_expires_at = CASE WHEN $10 THEN NULL ELSE now() + make_interval(secs => $11::double precision / 1000) END,
            heartbeat_at = now(), updated_at = now(), canary_claim = 0
          FROM ${this.db.t.runs} r
          WHERE p.run_id = $1 AND p.idx = $2 AND p.fence = $3 AND p.cursor = $12::jsonb AND r.id = p.run_id
          RETURNING r.control, r.backfill, r.state, p.upper, r.tuning, r.ramp_lanes
       )${
         history
           ? `, history AS (
         INSERT INTO ${this.db.t.batches} (run_id, backfill, partition_idx, worker, finished_at, duration_ms, received, processed, skipped, failed, quarantined, retries)
         SELECT $1, cp.backfill, $2, $13::text, to_timestamp($14::double precision / 1000), $15::int, $5, $6, $7, $8, $9, $16::jsonb FROM cp
       )`
           : ''
       }${
         ledger
           ? `, ledger AS (
         INSERT INTO ${this.db.t.ledger} (namespace, item_key, run_id) SELECT ${ledgerParams[0]}::text, k, $1 FROM cp, unnest(${ledgerParams[1]}::text[]) AS k ON CONFLICT DO NOTHING
       )`
           : ''
       }
       SELECT cp.* FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM cp) THEN true ELSE ${this.db.schemaName}.sluice_checkpoint_refused($1, $2, $3) END AS ok) AS guard
         LEFT JOIN cp ON true`;
    this.checkpointTexts[key] = text;
    return text;
  }

  /**
   * A statement the store runs per batch, as a named prepared statement when the store may use
   * them: parsed and planned once per connection instead of on every batch. The name is the
   * text's hash, so that one name never stands for two texts.
   */
  private statement(text: string, values: unknown[]): pg.QueryConfig {
    if (!this.db.prepare) return { text, values };
    let name = this.statementNames.get(text);
    if (name === undefined) {
      name = `sluice_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.statementNames.set(text, name);
    }
    return { name, text, values };
  }

  private async markReplayed(
    client: pg.PoolClient,
    runId: string,
    ids: readonly number[],
    ledger?: { namespace: string; keys: readonly ItemKey[] },
  ): Promise<void> {
    if (ids.length > 0) {
      const { rows } = await client.query<{ partition_idx: number | null }>(
        `UPDATE ${this.db.t.quarantine} SET status = 'replayed', attempts = attempts + 1, updated_at = now()
          WHERE id = ANY($1::bigint[]) AND run_id = $2 AND status = 'open' RETURNING partition_idx`,
        [ids, runId],
      );
      const perPartition = new Map<number, number>();
      for (const r of rows) perPartition.set(r.partition_idx ?? 0, (perPartition.get(r.partition_idx ?? 0) ?? 0) + 1);
      for (const [idx, n] of perPartition) {
        await client.query(
          `UPDATE ${this.db.t.partitions} SET quarantined = quarantined - $3, failed = GREATEST(failed - $3, 0), processed = processed + $3, updated_at = now()
            WHERE run_id = $1 AND idx = $2`,
          [runId, idx, n],
        );
      }
    }
    if (ledger && ledger.keys.length > 0) {
      await client.query(
        `INSERT INTO ${this.db.t.ledger} (namespace, item_key, run_id) SELECT $1, k, $2 FROM unnest($3::text[]) AS k ON CONFLICT DO NOTHING`,
        [ledger.namespace, runId, ledger.keys],
      );
    }
  }

  private async delivered(client: pg.Pool | pg.PoolClient, namespace: string, keys: readonly ItemKey[]): Promise<Set<ItemKey>> {
    if (keys.length === 0) return new Set();
    const { rows } = await client.query<{ item_key: string }>(
      `SELECT item_key FROM ${this.db.t.ledger} WHERE namespace = $1 AND item_key = ANY($2::text[])`,
      [namespace, keys],
    );
    return new Set(rows.map((r) => r.item_key));
  }
}

/** A checkpoint parameter as an SQL literal, for `EXECUTE` in a simple query (which takes no parameters). */
function sqlLiteral(client: pg.PoolClient, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new StoreError(`cannot write ${value} into a checkpoint`);
    return String(value);
  }
  if (Array.isArray(value))
    return client.escapeLiteral(`{${value.map((v) => `"${String(v).replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`);
  return client.escapeLiteral(String(value));
}
