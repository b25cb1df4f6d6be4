import { numberPlaceholders } from '../core/placeholders.js';
import type { SqlConnection, SqlRow, SqlSnapshot, SqlValue } from '../core/sql.js';

/**
 * Where the developer's `where` condition stands in a source's statements until they are sent.
 * The source writes its own placeholders as `?`; on PostgreSQL they are numbered `$1, $2, …` first
 * and the condition is put in after, so that a `?` in it (the jsonb operator) reaches PostgreSQL
 * as written, and the statement, now in `$n` style, is passed as written too.
 */
export const WHERE_SLOT = '(sluice_where_slot)';

/** `connection`, with statements finished as above: the slot filled with `where`. */
export function withWhere(connection: SqlConnection, where: string | undefined): SqlConnection {
  const finish = (sql: string) => {
    const numbered = connection.dialect === 'postgres' ? numberPlaceholders(sql) : sql;
    return where === undefined ? numbered : numbered.replaceAll(WHERE_SLOT, () => where);
  };
  const snapshot = connection.snapshot;
  const hasSpareConnection = connection.hasSpareConnection;
  return {
    dialect: connection.dialect,
    query: <Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]) => connection.query<Row>(finish(sql), params),
    execute: (sql, params) => connection.execute(finish(sql), params),
    executeMany: (sql, paramsList) => connection.executeMany(finish(sql), paramsList),
    ...(hasSpareConnection ? { hasSpareConnection: () => hasSpareConnection.call(connection) } : {}),
    ...(snapshot
      ? {
          snapshot: async (): Promise<SqlSnapshot> => {
            const taken = await snapshot.call(connection);
            return {
              query: <Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]) => taken.query<Row>(finish(sql), params),
              release: (abort?: boolean) => taken.release(abort),
            };
          },
        }
      : {}),
  };
}
