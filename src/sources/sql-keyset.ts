import type { Cursor, ItemKey } from '../core/cursor.js';
import { SourceError } from '../core/errors.js';
import type { MalformedRecord, PartitionSpec, ReplayRequest, Source, SourceBatch, SourceFilter, SourceReader } from '../core/source.js';
import { quoteIdentifier, quoteQualifiedName, type SqlConnection, type SqlSnapshot, type SqlValue } from '../core/sql.js';
import { WHERE_SLOT, withWhere } from './where-slot.js';

export interface SqlKeysetOptions {
  /** Table (or `schema.table`) to read. */
  table: string;
  /** A unique, ordered key: one column or several (compared as a row value). */
  key: string | readonly string[];
  /** Columns to read; default all. The key columns are always read. */
  columns?: readonly string[];
  /**
   * A SQL condition written by the developer (trusted code, not user input), e.g. `risk_score IS NULL`.
   * Passed as written: on PostgreSQL a `?` in it is the jsonb operator (`meta ? 'source'`).
   */
  where?: string;
  /** Timestamp column that `--since` filters on (`column >= since`). */
  sinceColumn?: string;
  /** In a fan-out backfill, the column holding the child (e.g. `entity_type`): each child reads `column = child`. */
  fanOutColumn?: string;
  /** The database to read; default the store's own database. */
  connection?: SqlConnection;
}

/**
 * The rows of a table in key order, by keyset pagination (`WHERE key > cursor ORDER BY key LIMIT n`),
 * never OFFSET: every read costs the same wherever the cursor is. The cursor is the JSON array of
 * the last row's key values. The SQL is portable (row values, window functions, `?` placeholders
 * numbered for PostgreSQL before the `where` condition goes in); only the catalog checks differ per dialect.
 */
export function sqlKeyset<Row = Record<string, unknown>>(options: SqlKeysetOptions): Source<Row> {
  const compiled = compile(options);
  const { keys } = compiled;
  // Rows whose key columns were read as exact text (PostgreSQL temporal keys): their key values.
  const exactKeys = new WeakMap<object, Cursor[]>();
  return {
    kind: 'sqlKeyset',
    description: `${options.table} by (${keys.join(', ')})`,
    defaultKey: (row: Row) => {
      const values = exactKeys.get(row as object) ?? keys.map((k) => keyValue((row as Record<string, unknown>)[k]));
      return keys.length === 1 ? String(values[0]) : JSON.stringify(values);
    },
    async open(environment) {
      const given = options.connection ?? environment.storeConnection;
      if (!given) {
        throw new SourceError(
          `sqlKeyset(${options.table}): no database to read: the store offers sources no SQL connection, so pass one as sqlKeyset({ ..., connection })`,
        );
      }
      const connection = withWhere(given, compiled.userWhere);
      const catalog = await validate(connection, compiled);
      return new SqlKeysetReader<Row>(
        connection,
        compiled,
        exactKeyTexts(connection, compiled, catalog),
        exactKeys,
        integerKey(connection, compiled, catalog),
      );
    },
  };
}

/** The options, validated and turned into SQL fragments once. */
interface Compiled {
  /** As the user wrote it, for messages. */
  tableName: string;
  /** Quoted, possibly schema-qualified. */
  table: string;
  keys: string[];
  keyColumns: string[];
  /** Every requested column (key columns included), unquoted; undefined = all. */
  columns: string[] | undefined;
  select: string;
  /** `WHERE_SLOT` when there is a condition: the statements hold the slot, `withWhere` fills it in. */
  where: string | undefined;
  /** The developer's condition, on its own lines. */
  userWhere: string | undefined;
  sinceColumn: string | undefined;
  since: string | undefined;
  fanOutColumn: string | undefined;
  fanOut: string | undefined;
}

function compile(options: SqlKeysetOptions): Compiled {
  try {
    if (!options || typeof options !== 'object') throw new TypeError('expected an options object { table, key }');
    if (typeof options.table !== 'string') throw new TypeError('table must be a string such as "emails" or "public.emails"');
    const table = quoteQualifiedName(options.table, 'table');
    const keys =
      typeof options.key === 'string' ? [options.key] : Array.isArray(options.key) ? [...(options.key as readonly string[])] : [];
    if (keys.length === 0) throw new TypeError('key must name a column or a non-empty array of columns');
    if (new Set(keys).size !== keys.length) throw new TypeError(`key (${keys.join(', ')}) names a column twice`);
    const keyColumns = keys.map((k) => quoteIdentifier(k, 'key column'));
    const columns = options.columns ? [...new Set([...keys, ...options.columns])] : undefined;
    const select = columns ? columns.map((c) => quoteIdentifier(c, 'column')).join(', ') : '*';
    const where = options.where?.trim();
    return {
      tableName: options.table,
      table,
      keys,
      keyColumns,
      columns,
      select,
      // On its own lines, so that a trailing `-- comment` in the fragment cannot swallow what follows.
      where: where ? WHERE_SLOT : undefined,
      userWhere: where ? `(\n${where}\n)` : undefined,
      sinceColumn: options.sinceColumn,
      since: options.sinceColumn === undefined ? undefined : quoteIdentifier(options.sinceColumn, 'sinceColumn'),
      fanOutColumn: options.fanOutColumn,
      fanOut: options.fanOutColumn === undefined ? undefined : quoteIdentifier(options.fanOutColumn, 'fanOutColumn'),
    };
  } catch (error) {
    throw new SourceError(`sqlKeyset: ${(error as Error).message}`, { cause: error });
  }
}

// ---- checks at open ---------------------------------------------------------------------------

/** The nullable key columns that hold NULLs in the rows the source reads, with how many. */
async function nullsInKey(connection: SqlConnection, sql: Compiled, catalog: Catalog): Promise<Array<{ column: string; rows: number }>> {
  const found: Array<{ column: string; rows: number }> = [];
  for (const column of sql.keys.filter((k) => catalog.columns.find((c) => c.name === k)!.nullable)) {
    const conditions = [...(sql.where ? [sql.where] : []), `${quoteIdentifier(column)} IS NULL`];
    const [row] = await connection.query<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM ${sql.table} WHERE ${conditions.join(' AND ')}`,
    );
    const rows = Number(row?.n ?? 0);
    if (rows > 0) found.push({ column, rows });
  }
  return found;
}

interface Catalog {
  /** `type` as the database names it (PostgreSQL's format_type; SQLite's declared type). */
  columns: Array<{ name: string; nullable: boolean; type: string }>;
  /** Column sets of the primary key and of every full (non-partial, no expression) unique index. */
  uniqueKeys: string[][];
}

/** Checks that the table and columns exist, that the key is unique and holds no NULLs, before anything runs. */
async function validate(connection: SqlConnection, sql: Compiled): Promise<Catalog> {
  const table = sql.tableName;
  const catalog = connection.dialect === 'postgres' ? await postgresCatalog(connection, table) : await sqliteCatalog(connection, table);
  if (typeof catalog === 'string') {
    throw new SourceError(`table "${table}" does not exist in ${catalog}`, {
      hint: 'check the table name in the backfill definition, and that the source reads the database you meant',
    });
  }
  const names = catalog.columns.map((c) => c.name);
  for (const column of [
    ...sql.keys,
    ...(sql.columns ?? []),
    ...(sql.sinceColumn === undefined ? [] : [sql.sinceColumn]),
    ...(sql.fanOutColumn === undefined ? [] : [sql.fanOutColumn]),
  ]) {
    if (!names.includes(column)) {
      throw new SourceError(`column "${column}" not found in table "${table}"; its columns are: ${names.join(', ')}`);
    }
  }
  const keyList = sql.keys.join(', ');
  const sameSet = (set: readonly string[]) => set.length === sql.keys.length && sql.keys.every((k) => set.includes(k));
  const unique = catalog.uniqueKeys.some(sameSet);
  const addUnique = `add a UNIQUE index on (${keyList}) or choose the primary key`;
  // NULLs first (a key column without a unique index may hold them too, and NULLs are what is wrong
  // then): `key > ?` never matches NULL, so such rows would be skipped without a word. Refused
  // unless `where` leaves them out.
  const nulls = await nullsInKey(connection, sql, catalog);
  if (nulls.length > 0) {
    const rows = (n: number) => `${n} row${n === 1 ? '' : 's'}`;
    const [first, ...more] = nulls;
    const counts = [
      `"${first!.column}" of table "${table}" has NULL values in ${rows(first!.rows)}`,
      ...more.map((n) => `"${n.column}" in ${rows(n.rows)}`),
    ].join(', ');
    throw new SourceError(
      `key column ${counts}: a keyset source needs a key without NULLs (keyset pagination never reaches those rows); declare the key NOT NULL, or leave those rows out with where: '${nulls.map((n) => `${n.column} IS NOT NULL`).join(' AND ')}'` +
        (unique ? '' : `; the key is not unique either: ${addUnique}`),
    );
  }
  if (!unique) {
    throw new SourceError(`key (${keyList}) of table "${table}" is not unique: keyset pagination needs a unique key; ${addUnique}`);
  }
  // SQLite has no timestamp type: `since` is compared as ISO-8601 text, and every number sorts
  // before every text, so a column of epoch numbers would silently filter out every row.
  if (sql.since && connection.dialect === 'sqlite') {
    const [sample] = await connection.query<{ type: string; value: unknown }>(
      `SELECT typeof(${sql.since}) AS type, ${sql.since} AS value FROM ${sql.table} WHERE ${sql.since} IS NOT NULL LIMIT 1`,
    );
    if (sample && sample.type !== 'text') {
      throw new SourceError(
        `sinceColumn "${sql.sinceColumn}" of table "${table}" holds ${sample.type} values (such as ${String(sample.value)}), but on SQLite \`since\` compares ISO-8601 text such as ${new Date(0).toISOString()}`,
        { hint: 'store the timestamps as ISO-8601 text, or leave sinceColumn out', details: { options: ['since'] } },
      );
    }
  }
  return catalog;
}

/**
 * For each key column, the SQL that reads it exactly as text, where the driver's own value would
 * not do: node-postgres turns timestamp, timestamptz and date into a JS Date, which keeps
 * milliseconds only (PostgreSQL keeps microseconds) and reads a timestamp without time zone in
 * the process's local zone. A cursor or an item key made from such a Date could skip or repeat
 * rows, and two rows a few microseconds apart would share a ledger key. The text forms are fixed
 * (UTC, ISO 8601, microseconds), whatever the session's TimeZone or DateStyle, and PostgreSQL
 * reads them back into the column's type when comparing. `infinity` falls back to its own text.
 */
function exactKeyTexts(connection: SqlConnection, sql: Compiled, catalog: Catalog): Array<string | undefined> {
  if (connection.dialect !== 'postgres') return sql.keys.map(() => undefined);
  return sql.keys.map((key, i) => {
    const column = sql.keyColumns[i]!;
    const type = catalog.columns.find((c) => c.name === key)?.type;
    const format =
      type === 'timestamp with time zone'
        ? [`${column} AT TIME ZONE 'UTC'`, `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`]
        : type === 'timestamp without time zone'
          ? [column, `'YYYY-MM-DD"T"HH24:MI:SS.US'`]
          : type === 'date'
            ? [column, `'YYYY-MM-DD'`]
            : undefined;
    return format ? `COALESCE(to_char(${format[0]}, ${format[1]}), ${column}::text)` : undefined;
  });
}

/** Whether the key is one integer column, whose ranges can be cut by arithmetic. */
function integerKey(connection: SqlConnection, sql: Compiled, catalog: Catalog): boolean {
  if (sql.keys.length !== 1) return false;
  const type = catalog.columns.find((c) => c.name === sql.keys[0])?.type.toLowerCase() ?? '';
  // PostgreSQL's smallint, integer and bigint; SQLite's INTEGER affinity (a declared type containing INT).
  return connection.dialect === 'postgres' ? ['smallint', 'integer', 'bigint'].includes(type) : type.includes('int');
}

/** The alias under which a key column's exact text is read (removed from the row before anyone sees it). */
const keyTextAlias = (i: number) => `sluice_key_text_${i}`;

/** The SQLite catalog, or where the table was looked for when it does not exist. */
async function sqliteCatalog(connection: SqlConnection, table: string): Promise<Catalog | string> {
  const dot = table.indexOf('.');
  const schema = dot === -1 ? undefined : table.slice(0, dot);
  const name = dot === -1 ? table : table.slice(dot + 1);
  const databases = await connection.query<{ name: string; file: string | null }>('PRAGMA database_list');
  const describe = (db: { name: string; file: string | null } | undefined) =>
    db?.file ? `SQLite database ${db.file}` : `the in-memory SQLite database${db && db.name !== 'main' ? ` "${db.name}"` : ''}`;
  if (schema !== undefined && !databases.some((d) => d.name === schema)) {
    return `${describe(databases.find((d) => d.name === 'main'))}: it has no attached database "${schema}" (attached: ${databases.map((d) => d.name).join(', ')})`;
  }
  // Unqualified PRAGMAs search temp, main and the attached databases, as the statements will.
  const prefix = schema === undefined ? '' : `${quoteIdentifier(schema, 'schema')}.`;
  const quotedName = quoteIdentifier(name, 'table');
  const info = await connection.query<{ name: string; pk: number; type: string; notnull: number }>(
    `PRAGMA ${prefix}table_info(${quotedName})`,
  );
  if (info.length === 0) return describe(databases.find((d) => d.name === (schema ?? 'main')));
  const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  // INTEGER PRIMARY KEY is the rowid: never NULL, although table_info does not say NOT NULL.
  const rowidAlias = pk.length === 1 && pk[0]!.type.toUpperCase() === 'INTEGER' ? pk[0]!.name : undefined;
  const uniqueKeys: string[][] = pk.length > 0 ? [pk.map((c) => c.name)] : [];
  const indexes = await connection.query<{ name: string; unique: number; partial: number }>(`PRAGMA ${prefix}index_list(${quotedName})`);
  for (const index of indexes) {
    if (!index.unique || index.partial) continue;
    const columns = await connection.query<{ name: string | null; seqno: number }>(
      `PRAGMA ${prefix}index_info("${index.name.replace(/"/g, '""')}")`,
    );
    // An expression in the index (name NULL) makes it no proof that the columns alone are unique.
    if (columns.length > 0 && columns.every((c) => c.name !== null))
      uniqueKeys.push(columns.sort((a, b) => a.seqno - b.seqno).map((c) => c.name!));
  }
  return {
    columns: info.map((c) => ({ name: c.name, nullable: c.notnull === 0 && c.name !== rowidAlias, type: c.type })),
    uniqueKeys,
  };
}

/** The PostgreSQL catalog (search_path applies to unqualified names), or where the table was looked for. */
async function postgresCatalog(connection: SqlConnection, table: string): Promise<Catalog | string> {
  const [found] = await connection.query<{ oid: string | null; db: string; schemas: string }>(
    `SELECT to_regclass(?)::oid::text AS oid, current_database() AS db, array_to_string(current_schemas(false), ', ') AS schemas`,
    [quoteQualifiedName(table)],
  );
  if (!found?.oid)
    return `PostgreSQL database "${found?.db ?? '?'}"${table.includes('.') ? '' : ` (search_path schemas: ${found?.schemas || 'none'})`}`;
  const columns = await connection.query<{ name: string; notnull: boolean; type: string }>(
    `SELECT attname::text AS name, attnotnull AS notnull, format_type(atttypid, NULL) AS type FROM pg_attribute
      WHERE attrelid = ?::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [found.oid],
  );
  // Key columns only (not INCLUDE columns); no expression or partial indexes.
  const indexes = await connection.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = ?::oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
      GROUP BY i.indexrelid`,
    [found.oid],
  );
  return { columns: columns.map((c) => ({ name: c.name, nullable: !c.notnull, type: c.type })), uniqueKeys: indexes.map((i) => i.columns) };
}

// ---- the reader --------------------------------------------------------------------------------

type Request = { partition: PartitionSpec; cursor: Cursor; filter: SourceFilter };

class SqlKeysetReader<Row> implements SourceReader<Row> {
  private readonly order: string;
  /** `, <exact text> AS sluice_key_text_i` for the key columns that need it; '' when none does. */
  private readonly keyTextSelect: string;

  constructor(
    private readonly connection: SqlConnection,
    private readonly sql: Compiled,
    private readonly keyTexts: ReadonlyArray<string | undefined>,
    private readonly exactKeys: WeakMap<object, Cursor[]>,
    private readonly integerKey: boolean,
  ) {
    this.order = sql.keyColumns.join(', ');
    this.keyTextSelect = keyTexts.map((text, i) => (text ? `, ${text} AS ${keyTextAlias(i)}` : '')).join('');
  }

  /**
   * Up to `partitions` key ranges of equal row counts. An integer key that holds every value
   * between its least and greatest (ids of a table nobody deleted from, all of them selected) is
   * cut by arithmetic from one COUNT/MIN/MAX; any other key by one more scan that numbers the rows
   * in key order and keeps every `step`-th key as a boundary (on a million rows that scan takes
   * most of a second, which every lane would wait for).
   */
  async plan({ partitions, filter, child }: { partitions: number; filter: SourceFilter; child?: string }): Promise<PartitionSpec[]> {
    this.checkChild(child);
    const whole: PartitionSpec = { lower: null, upper: null, label: 'all rows' };
    if (!(partitions > 1)) return [whole];
    const { where, params } = this.predicates(filter, null, null, null, child);
    const { total, least, greatest, textual } = await this.extent(where, params);
    if (total <= 1) return [whole];
    const step = Math.ceil(total / Math.floor(partitions));
    if (least !== undefined && greatest !== undefined && greatest - least + 1 === total) {
      // As the driver gives the key (node-postgres: bigint as text), so that cursors look alike.
      const asCursor = textual ? (n: number) => String(n) : (n: number) => n;
      const starts: Cursor[] = [];
      for (let start = least; start <= greatest; start += step) starts.push([asCursor(start)] as Cursor);
      return this.rangesFrom(starts, total, step);
    }
    const rows = await this.connection.query(
      `SELECT ${this.order}${this.keyTextSelect} FROM (SELECT ${this.order}, row_number() OVER (ORDER BY ${this.order}) AS sluice_rn FROM ${this.sql.table} ${where}) AS sluice_numbered
        WHERE (sluice_rn - 1) % ? = 0 ORDER BY ${this.order}`,
      [...params, step],
    );
    return this.rangesFrom(
      rows.map((row) => this.cursorOf(row)),
      total,
      step,
    );
  }

  /**
   * Ranges from each start to the next; the first range is open below (it only names the first
   * key), the last above. Each holds `step` of the `total` rows counted, the last what is left: the
   * engine's count of the run's items is their sum.
   */
  private rangesFrom(starts: Cursor[], total: number, step: number): PartitionSpec[] {
    if (starts.length <= 1) return [{ lower: null, upper: null, label: 'all rows', items: total }];
    const specs: PartitionSpec[] = [];
    for (let i = 0; i < starts.length; i++) {
      const lower = i === 0 ? null : starts[i]!;
      const upper = starts[i + 1] ?? null;
      const items = upper === null ? total - step * (starts.length - 1) : step;
      specs.push({ lower, upper, label: this.label(starts[i]!, upper), items });
    }
    return specs;
  }

  async read({ partition, cursor, limit, filter }: Request & { limit: number }): Promise<SourceBatch<Row>> {
    const { where, params } = this.predicates(filter, partition.lower, partition.upper, cursor, partition.child);
    const rows = await this.connection.query(
      `SELECT ${this.sql.select}${this.keyTextSelect} FROM ${this.sql.table} ${where} ORDER BY ${this.order} LIMIT ?`,
      [...params, limit],
    );
    const last = rows[rows.length - 1];
    const next = last ? this.cursorOf(last) : cursor;
    if (this.keyTextSelect) for (const row of rows) this.exactKeys.set(row, this.takeKeyValues(row));
    return { items: rows as Row[], malformed: [], cursor: next, done: rows.length < limit };
  }

  mayReadAhead(): boolean {
    return this.connection.hasSpareConnection?.() === true;
  }

  async count({ partition, cursor, filter }: Request): Promise<number> {
    const { where, params } = this.predicates(filter, partition.lower, partition.upper, cursor, partition.child);
    return this.countWhere(where, params);
  }

  /** The key of the middle row of what is left, when both halves hold at least `minItems` rows. */
  async split({ partition, cursor, filter, minItems }: Request & { minItems: number }): Promise<Cursor | null> {
    const { where, params } = this.predicates(filter, partition.lower, partition.upper, cursor, partition.child);
    const left = await this.countWhere(where, params);
    const min = Math.max(1, Math.ceil(minItems));
    if (left < 2 * min) return null;
    // Rows 1..half stay before the split point; row half+1 starts the new range.
    const half = Math.floor(left / 2);
    const [row] = await this.connection.query(
      `SELECT ${this.order}${this.keyTextSelect} FROM (SELECT ${this.order}, row_number() OVER (ORDER BY ${this.order}) AS sluice_rn FROM ${this.sql.table} ${where}) AS sluice_numbered
        WHERE sluice_rn = ?`,
      [...params, half + 1],
    );
    return row ? this.cursorOf(row) : null;
  }

  /** Fresh copies of quarantined rows, looked up by the key values in their stored payload. */
  async refetch(requests: readonly ReplayRequest[]): Promise<Array<{ key: ItemKey; item?: Row; error?: MalformedRecord }>> {
    const out: Array<{ key: ItemKey; item?: Row; error?: MalformedRecord }> = [];
    const match = this.sql.keyColumns.map((c) => `${c} = ?`).join(' AND ');
    for (const request of requests) {
      const payload = request.payload;
      const values =
        payload && typeof payload === 'object' && !Array.isArray(payload)
          ? this.sql.keys.map((k) => (payload as Record<string, unknown>)[k])
          : undefined;
      if (!values || values.some((v) => v === undefined || (v !== null && typeof v === 'object'))) {
        out.push({
          key: request.key,
          error: {
            key: request.key,
            errorClass: 'NO_PAYLOAD',
            message: `the stored payload does not hold the key (${this.sql.keys.join(', ')}), so the row cannot be looked up again`,
            sample: truncate(JSON.stringify(payload) ?? String(payload)),
          },
        });
        continue;
      }
      const rows = await this.connection.query(`SELECT ${this.sql.select} FROM ${this.sql.table} WHERE ${match}`, values as SqlValue[]);
      if (rows[0]) out.push({ key: request.key, item: rows[0] as Row });
      else {
        const shown = JSON.stringify(values);
        out.push({
          key: request.key,
          error: {
            key: request.key,
            errorClass: 'NOT_FOUND',
            message: `table "${this.sql.tableName}" no longer has the row (${this.sql.keys.join(', ')}) = ${shown}`,
            sample: truncate(shown),
          },
        });
      }
    }
    return out;
  }

  async close(): Promise<void> {}

  /** How many rows match, and for an integer key its least and greatest values (as the driver gives them). */
  private async extent(
    where: string,
    params: SqlValue[],
  ): Promise<{ total: number; least?: number; greatest?: number; textual?: boolean }> {
    if (!this.integerKey) return { total: await this.countWhere(where, params) };
    const key = this.sql.keyColumns[0]!;
    const [row] = await this.connection.query<{ n: unknown; least: unknown; greatest: unknown }>(
      `SELECT COUNT(*) AS n, MIN(${key}) AS least, MAX(${key}) AS greatest FROM ${this.sql.table} ${where}`,
      params,
    );
    const total = Number(row?.n ?? 0);
    // SQLite lets an INTEGER column hold text or reals; bigints beyond 2^53 cannot be cut exactly.
    const asInteger = (v: unknown) =>
      (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') &&
      Number.isSafeInteger(Number(v)) &&
      String(v).trim() !== ''
        ? Number(v)
        : undefined;
    const least = asInteger(row?.least);
    const greatest = asInteger(row?.greatest);
    if (least === undefined || greatest === undefined) return { total };
    return { total, least, greatest, textual: typeof row?.least === 'string' };
  }

  /**
   * On a connection that can take a snapshot (a PostgreSQL pool), the count runs in a snapshot
   * taken now, so it counts the rows as they were before the run changed any (a `where` such as
   * `risk_score IS NULL` stops matching the rows the run has done). Elsewhere it counts now.
   */
  async countBeside(request: Request): Promise<{ counted: Promise<number>; abort(): void } | undefined> {
    const { where, params } = this.predicates(
      request.filter,
      request.partition.lower,
      request.partition.upper,
      request.cursor,
      request.partition.child,
    );
    // No snapshot can be had: the engine counts now.
    if (!this.connection.snapshot) return undefined;
    let snapshot: SqlSnapshot;
    try {
      snapshot = await this.connection.snapshot();
    } catch {
      return undefined; // this connection cannot take one (a checked-out client)
    }
    const counted = snapshot
      .query<{ n: number | string | bigint }>(this.countSql(where), params)
      .then(([row]) => Number(row?.n ?? 0))
      .finally(() => snapshot.release());
    counted.catch(() => undefined);
    return { counted, abort: () => void snapshot.release(true) };
  }

  private countSql(where: string): string {
    return `SELECT COUNT(*) AS n FROM ${this.sql.table} ${where}`;
  }

  private async countWhere(where: string, params: SqlValue[]): Promise<number> {
    const [row] = await this.connection.query<{ n: number | string | bigint }>(this.countSql(where), params);
    return Number(row?.n ?? 0);
  }

  /** A fan-out run needs `fanOutColumn`, and a plain run must not get a child: either would read the wrong rows. */
  private checkChild(child: string | undefined): void {
    if (child !== undefined && !this.sql.fanOut) {
      throw new SourceError(
        `sqlKeyset(${this.sql.tableName}): the backfill fans out, so the source needs fanOutColumn (the column holding the child, e.g. "entity_type")`,
      );
    }
  }

  /** `WHERE …` for the developer's condition, `since`, the fan-out child and the key range after `cursor`. */
  private predicates(
    filter: SourceFilter,
    lower: Cursor,
    upper: Cursor,
    cursor: Cursor,
    child?: string,
  ): { where: string; params: SqlValue[] } {
    const conditions: string[] = [];
    const params: SqlValue[] = [];
    if (this.sql.where) conditions.push(this.sql.where);
    if (child !== undefined) {
      this.checkChild(child);
      conditions.push(`${this.sql.fanOut} = ?`);
      params.push(child);
    }
    if (this.sql.since && filter.since) {
      conditions.push(`${this.sql.since} >= ?`);
      // As ISO-8601 UTC text on both: SQLite compares it with the ISO text it stores, PostgreSQL
      // reads it into the column's type. A Date would reach PostgreSQL as the process's local time
      // with an offset, which a timestamp column reads without the offset (hours off in a zone
      // other than UTC) and a text column compares as text.
      params.push(filter.since.toISOString());
    }
    const bound = (op: '>' | '>=' | '<', position: Cursor, what: string) => {
      const values = this.values(position, what);
      conditions.push(
        values.length === 1 ? `${this.sql.keyColumns[0]} ${op} ?` : `(${this.order}) ${op} (${values.map(() => '?').join(', ')})`,
      );
      params.push(...values);
    };
    // The cursor is at or after the partition's lower bound, so it replaces it.
    if (cursor !== null) bound('>', cursor, 'cursor');
    else if (lower !== null) bound('>=', lower, 'partition lower bound');
    if (upper !== null) bound('<', upper, 'partition upper bound');
    return { where: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', params };
  }

  /** A position's key values, checked: a cursor from another source or key would read nonsense. */
  private values(position: Cursor, what: string): SqlValue[] {
    const values = Array.isArray(position) ? position : this.sql.keys.length === 1 && typeof position !== 'object' ? [position] : undefined;
    if (!values || values.length !== this.sql.keys.length || values.some((v) => v !== null && typeof v === 'object')) {
      throw new SourceError(
        `sqlKeyset(${this.sql.tableName}): ${what} ${JSON.stringify(position)} is not a position in key (${this.sql.keys.join(', ')}); was the key changed since the run started?`,
      );
    }
    return values as SqlValue[];
  }

  /** The key values of a row read with the exact key texts, which leave the row (the user sees their own columns only). */
  private takeKeyValues(row: Record<string, unknown>): Cursor[] {
    const values = this.cursorOf(row);
    this.keyTexts.forEach((text, i) => {
      if (text) delete row[keyTextAlias(i)];
    });
    return values;
  }

  /** The cursor after `row`: its key values, as JSON can hold them (exact texts where they were read). */
  private cursorOf(row: Record<string, unknown>): Cursor[] {
    return this.sql.keys.map((k, i) => {
      const value = this.keyTexts[i] ? row[keyTextAlias(i)] : keyValue(row[k]);
      if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
        throw new SourceError(
          `sqlKeyset(${this.sql.tableName}): key column "${k}" holds a ${value.constructor?.name ?? 'binary'} value, which a cursor cannot hold; use a text or numeric key`,
        );
      }
      return value as Cursor;
    });
  }

  private label(lower: Cursor, upper: Cursor): string {
    const name = this.sql.keys.length === 1 ? this.sql.keys[0]! : `(${this.sql.keys.join(', ')})`;
    const show = (position: Cursor) => {
      const values = (position as Cursor[]).map((v) =>
        typeof v === 'string' ? JSON.stringify(v) : v instanceof Date ? v.toISOString() : String(v),
      );
      return values.length === 1 ? values[0]! : `(${values.join(', ')})`;
    };
    return upper === null ? `${name} ≥ ${show(lower)}` : `${name} ${show(lower)}..${show(upper)}`;
  }
}

/** Key values as a cursor or an item key holds them: bigints beyond 2^53 as strings (both dialects compare them right). */
function keyValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

function truncate(text: string, max = 500): string {
  return text.length <= max ? text : text.slice(0, max);
}
