import { quoteIdentifier, quoteQualifiedName, type SqlConnection } from './sql.js';
import type { RunRecord } from './run.js';

/** What a check is handed: the run, and a read connection to the store's database (where transactional backfills write). */
export interface VerifyContext {
  run: RunRecord;
  sql: SqlConnection;
}

export interface VerifyOutcome {
  passed: boolean;
  /** One line an operator can act on: what was compared, and the numbers. */
  detail: string;
}

/** A check of `sluice verify`: parity, uniqueness, coverage, or anything the backfill's owner writes. */
export interface VerifyCheck {
  name: string;
  run(ctx: VerifyContext): Promise<VerifyOutcome>;
}

/** A check's result as stored with the run (and shown by `sluice report`). */
export interface VerificationRecord {
  runId: string;
  check: string;
  passed: boolean;
  detail: string;
  actor: string;
  at: string;
}

async function scalar(sql: SqlConnection, statement: string): Promise<number> {
  const rows = await sql.query(statement);
  const first = rows[0];
  if (!first) throw new Error(`"${statement}" returned no row`);
  const value = Object.values(first)[0];
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`"${statement}" returned ${JSON.stringify(value)}, not a number`);
  return n;
}

/** Parity (seed 001): a count on the source side equals one on the target side. */
export function parity(options: { name?: string; source: string; target: string; connection?: SqlConnection }): VerifyCheck {
  return {
    name: options.name ?? 'parity',
    async run(ctx) {
      const sql = options.connection ?? ctx.sql;
      const [source, target] = [await scalar(sql, options.source), await scalar(sql, options.target)];
      return {
        passed: source === target,
        detail: `source ${source}, target ${target}${source === target ? '' : ` (${target - source > 0 ? '+' : ''}${target - source})`}`,
      };
    },
  };
}

/** Uniqueness (seed 001): no two rows of `table` share `columns`. */
export function uniqueness(options: { name?: string; table: string; columns: readonly string[]; connection?: SqlConnection }): VerifyCheck {
  const table = quoteQualifiedName(options.table);
  const columns = options.columns.map((c) => quoteIdentifier(c, 'column')).join(', ');
  return {
    name: options.name ?? `unique ${options.table}(${options.columns.join(', ')})`,
    async run(ctx) {
      const sql = options.connection ?? ctx.sql;
      const duplicates = await scalar(
        sql,
        `SELECT COUNT(*) AS n FROM (SELECT ${columns} FROM ${table} GROUP BY ${columns} HAVING COUNT(*) > 1) AS d`,
      );
      return { passed: duplicates === 0, detail: duplicates === 0 ? 'no duplicates' : `${duplicates} duplicated key(s)` };
    },
  };
}

/** Coverage (seed 000): the share of rows of `table` matching `done` is at least `min` (default 1). */
export function coverage(options: {
  name?: string;
  table: string;
  done: string;
  where?: string;
  min?: number;
  connection?: SqlConnection;
}): VerifyCheck {
  const table = quoteQualifiedName(options.table);
  const scope = options.where ? ` WHERE ${options.where}` : '';
  const min = options.min ?? 1;
  return {
    name: options.name ?? `coverage of ${options.table}`,
    async run(ctx) {
      const sql = options.connection ?? ctx.sql;
      const total = await scalar(sql, `SELECT COUNT(*) AS n FROM ${table}${scope}`);
      const done = await scalar(
        sql,
        `SELECT COUNT(*) AS n FROM ${table} WHERE (${options.done})${options.where ? ` AND (${options.where})` : ''}`,
      );
      const share = total === 0 ? 1 : done / total;
      return {
        passed: share >= min,
        detail: `${done} of ${total} (${(share * 100).toFixed(2)} %; at least ${(min * 100).toFixed(2)} % wanted)`,
      };
    },
  };
}
