// What every example's one command shares: `--db` (a SQLite file, the default, or postgres://…),
// opening the store, and running SQL written for either dialect.
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createSluice, type BackfillDefinition, type Clock, type Sluice, type SqlConnection, type Store } from 'sluice';
import { openSqliteStore } from 'sluice/sqlite';
import { openPostgresStore } from 'sluice/postgres';

export interface ExampleContext {
  store: Store;
  sluice: Sluice;
  /** The store's database: where the examples keep their tables (so transactional writes commit with the checkpoint). */
  sql: SqlConnection;
  dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

/** Parses the example's flags (plus `--db`), refusing unknown ones with a clear message. */
export function flags(options: NonNullable<ParseArgsConfig['options']>, usage: string): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ options: { db: { type: 'string' }, ...options }, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: ${usage}\n`);
    process.exit(2);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: definitions of every item type in one list (process takes T, so unknown would refuse them)
type AnyDefinition = BackfillDefinition<any>;

export async function openExample(
  db: string | undefined,
  defaultFile: string,
  backfills: readonly AnyDefinition[],
  clock?: Clock,
): Promise<ExampleContext> {
  const location = db ?? resolve(defaultFile);
  const store = /^postgres(ql)?:\/\//.test(location)
    ? await openPostgresStore({ connectionString: location })
    : await openSqliteStore(location);
  const sluice = createSluice({ store, backfills, ...(clock ? { clock } : {}) });
  return {
    store,
    sluice,
    sql: store.readConnection(),
    dialect: store.dialect,
    async close() {
      await sluice.close();
      await store.close();
    },
  };
}

/** Whether the store's database has this table (the examples create theirs on first use). */
export async function tableExists(example: ExampleContext, table: string): Promise<boolean> {
  if (example.dialect === 'sqlite')
    return (await example.sql.query('SELECT 1 FROM sqlite_schema WHERE type = ? AND name = ?', ['table', table])).length > 0;
  return (await example.sql.query<{ found: boolean }>('SELECT to_regclass(?) IS NOT NULL AS found', [table]))[0]!.found;
}

/** Runs DDL or writes in one transaction on the store's database. */
export async function write(
  store: Store,
  statements: ReadonlyArray<string | [string, ReadonlyArray<ReadonlyArray<unknown>>]>,
): Promise<void> {
  await store.transaction(async (tx) => {
    for (const statement of statements) {
      if (typeof statement === 'string') await tx.sql.execute(statement);
      else await tx.sql.executeMany(statement[0], statement[1] as never);
    }
  });
}

/** A JSON line on stdout (what the examples' tests read). */
export function report(event: string, payload: object): void {
  process.stdout.write(`${JSON.stringify({ event, ...payload })}\n`);
}

/** mulberry32: the examples' data is the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
