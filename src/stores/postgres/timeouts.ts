import { StoreError } from '../../core/errors.js';

/**
 * How long the PostgreSQL store waits on the server. Every wait is bounded, so that a server that
 * hangs (a frozen host, a stalled disk, a listener that accepts and never answers) becomes a clear
 * store error that the engine retries, the API answers with 503, and the CLI reports, never a hang.
 */
export interface PostgresTimeouts {
  /**
   * Opening a connection (TCP connect, TLS and the startup handshake), and waiting for a free
   * connection of the pool. Default 10 s.
   */
  connectTimeoutMs?: number;
  /**
   * Each of Sluice's own statements (claims, checkpoints, transitions, status reads), measured by
   * the client: a silent server fails the statement after this long and its connection is
   * destroyed, never reused. Default 15 s.
   */
  queryTimeoutMs?: number;
  /**
   * The statements of the user's code on the store's connections (`ctx.tx` in a transactional
   * batch, source reads, verification checks), measured by the client; also the server-side
   * `statement_timeout` of every store connection, the server's own backstop for any statement the
   * client gave up on. At least `queryTimeoutMs`. 0: no bound. Default 60 s.
   */
  statementTimeoutMs?: number;
  /**
   * The server ends a store session that sits inside a transaction without a statement this long
   * (`idle_in_transaction_session_timeout`): a worker frozen mid-batch releases its locks. 0: no
   * bound. Default 5 min.
   */
  idleInTransactionTimeoutMs?: number;
}

export const DEFAULT_POSTGRES_TIMEOUTS: Required<PostgresTimeouts> = {
  connectTimeoutMs: 10_000,
  queryTimeoutMs: 15_000,
  statementTimeoutMs: 60_000,
  idleInTransactionTimeoutMs: 300_000,
};

/** setTimeout's largest delay: the client-side bound of a statement with "no bound". */
const NO_BOUND_MS = 2_147_483_647;

/** The timeouts with defaults applied, checked. */
export function resolveTimeouts(options: PostgresTimeouts = {}): Required<PostgresTimeouts> {
  const resolved = { ...DEFAULT_POSTGRES_TIMEOUTS };
  for (const name of Object.keys(DEFAULT_POSTGRES_TIMEOUTS) as Array<keyof PostgresTimeouts>) {
    if (options[name] !== undefined) resolved[name] = options[name];
  }
  for (const [name, value] of Object.entries(resolved)) {
    const mayBeZero = name === 'statementTimeoutMs' || name === 'idleInTransactionTimeoutMs';
    if (!Number.isInteger(value) || value < 0 || (value === 0 && !mayBeZero) || value > NO_BOUND_MS) {
      throw new StoreError(
        `PostgreSQL store option ${name} must be a whole number of milliseconds${mayBeZero ? ' (0: no bound)' : ' above 0'}, got ${value}`,
      );
    }
  }
  if (resolved.statementTimeoutMs !== 0 && resolved.statementTimeoutMs < resolved.queryTimeoutMs) {
    throw new StoreError(
      `PostgreSQL store option statementTimeoutMs (${resolved.statementTimeoutMs}) must be at least queryTimeoutMs (${resolved.queryTimeoutMs}): it is also the server's bound on Sluice's own statements`,
    );
  }
  return resolved;
}

/** The `pg` pool settings that carry the timeouts (and TCP keepalive, for a peer that vanished). */
export function poolTimeoutSettings(timeouts: Required<PostgresTimeouts>) {
  return {
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    query_timeout: timeouts.queryTimeoutMs,
    ...(timeouts.statementTimeoutMs > 0 ? { statement_timeout: timeouts.statementTimeoutMs } : {}),
    ...(timeouts.idleInTransactionTimeoutMs > 0 ? { idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs } : {}),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/** The client-side bound of one of the user's statements (a per-query `query_timeout`). */
export function userStatementTimeout(timeouts: Required<PostgresTimeouts>): number {
  // A little past the server's own statement_timeout: a live server cancels first, with its own error.
  return timeouts.statementTimeoutMs === 0 ? NO_BOUND_MS : Math.min(NO_BOUND_MS, timeouts.statementTimeoutMs + 2_000);
}

/** Which wait a `pg` error says ran out, or undefined when it is no timeout. */
export function timeoutKind(error: unknown): 'connect' | 'pool' | 'query' | 'statement' | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const message = (e as { message?: unknown }).message;
    if ((e as { code?: unknown }).code === '57014' && typeof message === 'string' && /statement timeout/i.test(message)) return 'statement';
    if (typeof message !== 'string') continue;
    if (/^Query read timeout$/.test(message)) return 'query';
    if (/^timeout exceeded when trying to connect$/.test(message)) return 'pool';
    if (/^timeout expired$|connection timeout/i.test(message)) return 'connect';
  }
  return undefined;
}

/**
 * A store error that says which wait ran out and how to change it, for a `pg` timeout; undefined
 * for any other error. Its cause is the `pg` error, so it stays a transient store error.
 */
export function timeoutError(error: unknown, location: string, timeouts: Required<PostgresTimeouts>): StoreError | undefined {
  const kind = timeoutKind(error);
  if (kind === undefined) return undefined;
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  const said = {
    connect: `could not connect to the PostgreSQL store ${location} within ${seconds(timeouts.connectTimeoutMs)} (connect timeout)`,
    pool: `no connection to the PostgreSQL store ${location} came free within ${seconds(timeouts.connectTimeoutMs)} (connect timeout; every connection of the pool is busy or hung)`,
    query: `the PostgreSQL store ${location} did not answer a statement in time (query timeout: ${seconds(timeouts.queryTimeoutMs)} for Sluice's statements${timeouts.statementTimeoutMs > 0 ? `, ${seconds(userStatementTimeout(timeouts))} for the backfill's` : ''})`,
    statement: `the PostgreSQL store ${location} cancelled a statement that ran longer than ${seconds(timeouts.statementTimeoutMs)} (statement timeout)`,
  }[kind];
  return new StoreError(said, {
    hint:
      kind === 'statement'
        ? 'a statement of the backfill ran too long: make it faster, or raise SLUICE_PG_STATEMENT_TIMEOUT (statementTimeoutMs)'
        : 'check that the server is up, reachable from here and not overloaded or frozen; SLUICE_PG_CONNECT_TIMEOUT and SLUICE_PG_QUERY_TIMEOUT set the waits',
    cause: error,
  });
}
