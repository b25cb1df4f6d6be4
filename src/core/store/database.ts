import type { SqlConnection, SqlDialect } from '../sql.js';

/** The store itself: which database it is, a read connection to it, its clock, and closing it. */
export interface StoreDatabase {
  readonly dialect: SqlDialect;
  /** A human description, e.g. the SQLite file path. */
  readonly location: string;

  /** A read connection to the store's own database, for sources whose target is that database. */
  readConnection(): SqlConnection;

  /**
   * The store's clock (ms since the epoch): leases expire by it, so whoever judges a lease (live,
   * expired, how old its heartbeat) asks it instead of the process's clock, which may drift on
   * machines other than the database's.
   */
  clockNow(): Promise<number>;

  close(): Promise<void>;
}
