import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../../core/errors.js';

/**
 * How much of an existing store file is checked before Sluice opens it for writing: `quick`
 * (`PRAGMA quick_check`: every page and record, not the indexes' contents; about 0.5 s for a store
 * of 1M ledger rows, 65 MB), `full` (`PRAGMA integrity_check`, also the indexes against their
 * tables), or `off`.
 */
export type IntegrityCheck = 'quick' | 'full' | 'off';

/** The integrity checks a SQLite store can run when it opens (its `integrityCheck` option): quick (the default), full, off. */
export const INTEGRITY_CHECKS: readonly IntegrityCheck[] = ['quick', 'full', 'off'];

/** What a check found: nothing when the file is sound. At most this many problems are listed. */
const MAX_PROBLEMS = 100;

/**
 * Checks an existing store file on a read-only connection, before any connection that can write
 * opens it: a damaged file is refused before a migration, a WAL checkpoint or a batch could write
 * into it (SQLite reports a damaged page only when a statement happens to read it, and then the
 * writes before it have landed). A file that is not there yet is left for the store to create.
 */
export function assertStoreFileSound(path: string, check: IntegrityCheck): void {
  if (!existsSync(path)) return;
  refuseEmptyFile(path);
  if (check === 'off') return;
  const problems = storeFileProblems(path, check);
  if (problems.length === 0) return;
  throw damaged(path, check, problems);
}

/**
 * The problems `quick_check` or `integrity_check` finds in the file (none: it is sound). A file that
 * is not an SQLite database at all throws the driver's SQLITE_NOTADB.
 */
export function storeFileProblems(path: string, check: Exclude<IntegrityCheck, 'off'>): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const rows = db
      .prepare(`PRAGMA ${check === 'full' ? 'integrity_check' : 'quick_check'}(${MAX_PROBLEMS})`)
      .pluck()
      .all() as string[];
    return rows.length === 1 && rows[0] === 'ok' ? [] : rows;
  } catch (error) {
    // A page so damaged that the check itself cannot walk past it.
    if ((error as { code?: unknown }).code === 'SQLITE_CORRUPT') return [(error as Error).message];
    throw error;
  } finally {
    db.close();
  }
}

/**
 * A 0-byte file is no store Sluice made (Sluice writes the header when it creates one, before
 * anything else), and SQLite would take it for an empty database and build a store in it. Unless
 * its write-ahead log holds data (a store whose first transactions are not checkpointed yet).
 */
function refuseEmptyFile(path: string): void {
  if (statSync(path).size > 0) return;
  const wal = `${path}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) return;
  throw new StoreError(`${path} is an empty file (0 bytes), not a Sluice store; nothing was written to it`, {
    hint: `if it is meant to be a new store, delete it and Sluice creates the store there; otherwise pass \`path\` with the store's path`,
  });
}

function damaged(path: string, check: IntegrityCheck, problems: readonly string[]): StoreError {
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length === 2 ? '' : 's'})` : '';
  return new StoreError(
    `store ${path} is damaged: ${check === 'full' ? 'integrity_check' : 'quick_check'} found ${JSON.stringify(problems[0])}${more}; Sluice refused it and wrote nothing to it`,
    {
      hint:
        `stop every process using it and restore it from a backup; \`storeFileProblems('${path}', 'full')\` lists every problem; ` +
        `to salvage what is still readable: sqlite3 ${path} ".recover" | sqlite3 ${path}.recovered, check that copy with \`storeFileProblems('${path}.recovered', 'full')\` and use it (docs/runbook.md, "A damaged store")`,
    },
  );
}
