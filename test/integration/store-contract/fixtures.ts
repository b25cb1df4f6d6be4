import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Counts } from '../../../src/core/counts.js';
import type { PartitionLease, PartitionRecord, RunControl, RunOptions } from '../../../src/core/run.js';
import type { AlertNotification } from '../../../src/core/slo/alert-notification.js';
import type { AlertChange } from '../../../src/core/slo/alert-record.js';
import type { CheckpointWrite, NewRun, Store } from '../../../src/core/store.js';
import { openPostgresStore } from '../../../src/stores/postgres/index.js';
import { openSqliteStore } from '../../../src/stores/sqlite/index.js';
import { TEST_PG, testSchema } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/temp.js';

/** A store to run a contract against, opened fresh for each test, and how to remove what it left. */
export interface ContractStore {
  name: string;
  open(): Promise<{ store: Store; cleanup(): Promise<void> }>;
}

/** Every store implementation: each port's contract runs against all of them. */
export const contractStores: readonly ContractStore[] = [
  {
    name: 'SQLite',
    open: async () => {
      const { dir, cleanup } = await tempDir();
      return { store: await openSqliteStore(join(dir, 'store.db')), cleanup };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const { schema, cleanup } = await testSchema('store');
      const store = await openPostgresStore({ connectionString: TEST_PG, schema, searchPath: schema });
      return { store, cleanup };
    },
  },
];

export type WithStore = (title: string, body: (store: Store) => Promise<void>) => void;

/**
 * The behaviour one port of the store must have, written against the interface only, so that the
 * same cases run against SQLite and PostgreSQL. Each case gets a store of its own. Tables the cases
 * need in the store's database are created through `store.transaction(tx => tx.sql.execute(...))`,
 * in SQL both dialects accept.
 */
export function storeContract(port: string, cases: (withStore: WithStore) => void): void {
  for (const { name, open } of contractStores) {
    describe(`${port} contract: ${name}`, () => {
      cases((title, body) =>
        it(title, async () => {
          const { store, cleanup } = await open();
          try {
            await body(store);
          } finally {
            await store.close();
            await cleanup();
          }
        }),
      );
    });
  }
}

export const options: RunOptions = {
  batchSize: 100,
  concurrency: 2,
  maxFailureRatio: 0.01,
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
};
let sequence = 0;

export function newRun(overrides: Partial<NewRun> = {}): NewRun {
  sequence += 1;
  return {
    id: `r_test${String(sequence).padStart(6, '0')}`,
    backfill: 'contract',
    params: { since: '2026-01-01T00:00:00.000Z' },
    options,
    createdBy: 'tester',
    reason: 'contract test',
    partitions: [
      { lower: null, upper: [100], label: 'id < 100' },
      { lower: [100], upper: null, label: 'id ≥ 100' },
    ],
    plannedItems: 200,
    ...overrides,
  };
}

/**
 * How long a partition's lease runs past its last update. Both times are the store's (the database
 * clock on PostgreSQL), so this holds however far the test process's clock is from the database's.
 */
export function leaseLeft(partition: PartitionRecord): number {
  assert.ok(partition.leaseExpiresAt, `partition ${partition.index} holds no lease`);
  return Date.parse(partition.leaseExpiresAt) - Date.parse(partition.updatedAt);
}

export const zero: Counts = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };

export function control(kind: RunControl['kind'], actor = 'op'): RunControl {
  return { kind, actor, reason: `${kind} please`, requestedAt: '2026-02-03T04:05:06.000Z' };
}

/** A checkpoint write with everything but the lease defaulted. */
export function batch(lease: PartitionLease, write: Partial<CheckpointWrite> = {}): CheckpointWrite {
  return { lease, previousCursor: null, cursor: null, done: false, delta: zero, leaseMs: 60_000, ...write };
}

/** A firing alert's change and the notification to record with it. */
export function firing(tier: string, id: string): { change: AlertChange; notification: AlertNotification } {
  const key = { backfill: 'contract', slo: 'latency', tier };
  const change: AlertChange = {
    ...key,
    severity: 'page',
    from: 'inactive',
    to: 'firing',
    sinceMs: Date.parse('2026-03-01T00:00:00.000Z'),
    burnLong: 20,
    burnShort: 30,
    summary: 'burning 20×',
  };
  const notification: AlertNotification = {
    id,
    ...key,
    severity: 'page',
    state: 'firing',
    since: '2026-03-01T00:00:00.000Z',
    burnRate: { threshold: 14.4, long: 20, short: 30 },
    windows: { long: '1h', short: '5m' },
    summary: 'burning 20×',
    runs: ['r_1'],
    paused: [],
  };
  return { change, notification };
}

/** Matches errors by their stable code, so that a store loaded from another copy of the package still matches. */
export const withCode = (code: string) => (error: unknown) => (error as { code?: unknown }).code === code;
