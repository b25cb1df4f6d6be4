import type { Cursor } from '../core/cursor.js';
import { SourceError } from '../core/errors.js';
import type { PartitionSpec, ReplayRequest, Source, SourceBatch, SourceFilter, SourceReader } from '../core/source.js';
import { quoteIdentifier, quoteQualifiedName, type SqlConnection, type SqlValue } from '../core/sql.js';

export interface SqlKeysetOptions {
  /** Table (or `schema.table`) to read. */
  table: string;
  /** A unique, ordered key: one column or several (compared as a row value). */
  key: string | readonly string[];
  /** Columns to read; default all. The key columns are always read. */
  columns?: readonly string[];
  /** A SQL condition written by the developer (trusted code, not user input), e.g. `risk_score IS NULL`. */
  where?: string;
  /** Timestamp column that `--since` filters on. */
  sinceColumn?: string;
  /** The database to read; default the store's own database. */
  connection?: SqlConnection;
}

/**
 * The rows of a table in key order, by keyset pagination (`WHERE key > cursor ORDER BY key LIMIT n`),
 * never OFFSET: every read costs the same wherever the cursor is.
 */
export function sqlKeyset<Row = Record<string, unknown>>(options: SqlKeysetOptions): Source<Row> {
  const keys = typeof options.key === 'string' ? [options.key] : [...options.key];
  const plan = compile(options, keys);
  return {
    kind: 'sqlKeyset',
    description: `${options.table} by (${keys.join(', ')})`,
    defaultKey: (row: Row) => {
      const values = keys.map((k) => (row as Record<string, unknown>)[k]);
      return keys.length === 1 ? String(values[0]) : JSON.stringify(values);
    },
    async open(environment) {
      const connection = options.connection ?? environment.storeConnection;
      if (!connection) {
        throw new SourceError(`sqlKeyset(${options.table}): no database to read`, { hint: 'pass connection: ... to sqlKeyset' });
      }
      await validate(connection, options, keys);
      return new SqlKeysetReader<Row>(connection, plan, keys);
    },
  };
}

interface Compiled {
  table: string;
  tableName: string;
  keyColumns: string[];
  select: string;
  where: string | undefined;
  since: string | undefined;
}

function compile(options: SqlKeysetOptions, keys: string[]): Compiled {
  try {
    if (keys.length === 0) throw new TypeError('key must name at least one column');
    const keyColumns = keys.map((k) => quoteIdentifier(k, 'key column'));
    const extra = (options.columns ?? []).filter((c) => !keys.includes(c)).map((c) => quoteIdentifier(c, 'column'));
    return {
      table: quoteQualifiedName(options.table),
      tableName: options.table,
      keyColumns,
      select: options.columns ? [...keyColumns, ...extra].join(', ') : '*',
      where: options.where?.trim() ? `(${options.where})` : undefined,
      since: options.sinceColumn ? quoteIdentifier(options.sinceColumn, 'sinceColumn') : undefined,
    };
  } catch (error) {
    throw new SourceError(`sqlKeyset: ${(error as Error).message}`);
  }
}

/** Checks that the table and columns exist and that the key is unique, before anything runs. */
async function validate(connection: SqlConnection, options: SqlKeysetOptions, keys: string[]): Promise<void> {
  const table = options.table;
  const catalog = connection.dialect === 'sqlite' ? await sqliteCatalog(connection, table) : await postgresCatalog(connection, table);
  if (!catalog) throw new SourceError(`table "${table}" does not exist`, { hint: 'check the table name in the backfill definition (and --db)' });
  const wanted = [...keys, ...(options.columns ?? []), ...(options.sinceColumn ? [options.sinceColumn] : [])];
  for (const column of wanted) {
    if (!catalog.columns.includes(column)) {
      throw new SourceError(`column "${column}" not found in table "${table}"; its columns are: ${catalog.columns.join(', ')}`);
    }
  }
  const sameColumns = (set: readonly string[]) => set.length === keys.length && set.every((c, i) => c === keys[i]) ;
  const unordered = (set: readonly string[]) => set.length === keys.length && keys.every((k) => set.includes(k));
  if (!catalog.uniqueKeys.some((u) => sameColumns(u) || unordered(u))) {
    throw new SourceError(`key (${keys.join(', ')}) of table "${table}" is not unique: keyset pagination needs a unique key`, {
      hint: `add a UNIQUE index on (${keys.join(', ')}) or use the primary key`,
    });
  }
}

async function sqliteCatalog(connection: SqlConnection, table: string): Promise<{ columns: string[]; uniqueKeys: string[][] } | undefined> {
  const [schema, name] = table.includes('.') ? table.split('.') as [string, string] : ['main', table];
  const s = quoteIdentifier(schema, 'schema');
  const info = await connection.query<{ name: string; pk: number; type: string }>(`PRAGMA ${s}.table_info(${quoteIdentifier(name, 'table')})`);
  if (info.length === 0) return undefined;
  const uniqueKeys: string[][] = [];
  const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  if (pk.length > 0) uniqueKeys.push(pk);
  const indexes = await connection.query<{ name: string; unique: number; partial: number }>(`PRAGMA ${s}.index_list(${quoteIdentifier(name, 'table')})`);
  for (const index of indexes) {
    if (!index.unique || index.partial) continue;
    const columns = await connection.query<{ name: string | null; seqno: number }>(`PRAGMA ${s}.index_info("${index.name.replace(/"/g, '""')}")`);
    if (columns.every((c) => c.name !== null)) uniqueKeys.push(columns.sort((a, b) => a.seqno - b.seqno).map((c) => c.name!));
  }
  return { columns: info.map((c) => c.name), uniqueKeys };
}

async function postgresCatalog(connection: SqlConnection, table: string): Promise<{ columns: string[]; uniqueKeys: string[][] } | undefined> {
  const regclass = await connection.query<{ oid: string | null }>('SELECT to_regclass(?)::oid::text AS oid', [quoteQualifiedName(table)]);
  const oid = regclass[0]?.oid;
  if (!oid) return undefined;
  const columns = await connection.query<{ attname: string }>(
    'SELECT attname::text AS attname FROM pg_attribute WHERE attrelid = ?::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [oid]);
  const indexes = await connection.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = ?::oid AND i.indisunique AND i.indpred IS NULL GROUP BY i.indexrelid`, [oid]);
  return { columns: columns.map((c) => c.attname), uniqueKeys: indexes.map((i) => i.columns) };
}

class SqlKeysetReader<Row> implements SourceReader<Row> {
  constructor(
    private readonly connection: SqlConnection,
    private readonly sql: Compiled,
    private readonly keys: string[],
  ) {}

  async plan({ partitions, filter }: { partitions: number; filter: SourceFilter }): Promise<PartitionSpec[]> {
    if (partitions <= 1) return [{ lower: null, upper: null, label: 'all rows' }];
    const { conditions, params } = this.predicates(filter, null, null, null);
    const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    const [{ n } = { n: 0 }] = await this.connection.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${this.sql.table} ${where}`, params);
    const total = Number(n);
    if (total <= 1) return [{ lower: null, upper: null, label: 'all rows' }];
    const step = Math.ceil(total / partitions);
    const order = this.sql.keyColumns.join(', ');
    const rows = await this.connection.query(
      `SELECT ${order} FROM (SELECT ${order}, row_number() OVER (ORDER BY ${order}) AS sluice_rn FROM ${this.sql.table} ${where}) AS numbered
        WHERE sluice_rn > 1 AND (sluice_rn - 1) % ? = 0 ORDER BY ${order}`,
      [...params, step],
    );
    const bounds: Cursor[] = rows.map((row) => this.keys.map((k) => row[k] as Cursor));
    const specs: PartitionSpec[] = [];
    let lower: Cursor = null;
    for (const upper of [...bounds, null]) {
      specs.push({ lower, upper, label: this.label(lower, upper) });
      lower = upper;
    }
    return specs;
  }

  async read({ partition, cursor, limit, filter }: { partition: PartitionSpec; cursor: Cursor; limit: number; filter: SourceFilter }): Promise<SourceBatch<Row>> {
    const { conditions, params } = this.predicates(filter, partition.lower, partition.upper, cursor);
    const rows = await this.connection.query(
      `SELECT ${this.sql.select} FROM ${this.sql.table} ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
        ORDER BY ${this.sql.keyColumns.join(', ')} LIMIT ?`,
      [...params, limit],
    );
    const last = rows[rows.length - 1];
    return {
      items: rows as Row[],
      malformed: [],
      cursor: last ? this.keys.map((k) => last[k] as Cursor) : cursor,
      done: rows.length < limit,
    };
  }

  async count({ partition, cursor, filter }: { partition: PartitionSpec; cursor: Cursor; filter: SourceFilter }): Promise<number> {
    const { conditions, params } = this.predicates(filter, partition.lower, partition.upper, cursor);
    const [row] = await this.connection.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ${this.sql.table} ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}`, params);
    return Number(row?.n ?? 0);
  }

  async refetch(requests: readonly ReplayRequest[]) {
    const out: Array<{ key: string; item?: Row; error?: { key: string; errorClass: string; message: string; sample: string } }> = [];
    for (const request of requests) {
      const payload = request.payload as Record<string, unknown> | undefined;
      const values = payload && typeof payload === 'object' ? this.keys.map((k) => payload[k]) : undefined;
      if (!values || values.some((v) => v === undefined)) {
        out.push({ key: request.key, error: { key: request.key, errorClass: 'NO_PAYLOAD', message: 'the stored payload has no key columns', sample: '' } });
        continue;
      }
      const rows = await this.connection.query(
        `SELECT ${this.sql.select} FROM ${this.sql.table} WHERE ${this.sql.keyColumns.map((c) => `${c} = ?`).join(' AND ')}`, values as SqlValue[]);
      if (rows[0]) out.push({ key: request.key, item: rows[0] as Row });
      else out.push({ key: request.key, error: { key: request.key, errorClass: 'NOT_FOUND', message: 'the row no longer exists', sample: '' } });
    }
    return out;
  }

  async close(): Promise<void> {}

  private predicates(filter: SourceFilter, lower: Cursor, upper: Cursor, cursor: Cursor): { conditions: string[]; params: SqlValue[] } {
    const conditions: string[] = [];
    const params: SqlValue[] = [];
    if (this.sql.where) conditions.push(this.sql.where);
    if (this.sql.since && filter.since) {
      conditions.push(`${this.sql.since} >= ?`);
      params.push(this.connection.dialect === 'sqlite' ? filter.since.toISOString() : filter.since);
    }
    const bound = (op: string, values: Cursor) => {
      const list = values as SqlValue[];
      if (this.keys.length === 1) conditions.push(`${this.sql.keyColumns[0]} ${op} ?`);
      else conditions.push(`(${this.sql.keyColumns.join(', ')}) ${op} (${list.map(() => '?').join(', ')})`);
      params.push(...list);
    };
    if (cursor !== null) bound('>', cursor);
    else if (lower !== null) bound('>=', lower);
    if (upper !== null) bound('<', upper);
    return { conditions, params };
  }

  private label(lower: Cursor, upper: Cursor): string {
    const name = this.keys.join(', ');
    const show = (v: Cursor) => (Array.isArray(v) && v.length === 1 ? String(v[0]) : JSON.stringify(v));
    if (lower === null && upper === null) return 'all rows';
    if (lower === null) return `${name} < ${show(upper)}`;
    if (upper === null) return `${name} ≥ ${show(lower)}`;
    return `${name} ${show(lower)}..${show(upper)}`;
  }
}
