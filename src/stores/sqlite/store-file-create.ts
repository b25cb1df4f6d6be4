import { constants, copyFileSync, existsSync, linkSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';

/**
 * Creates a new store file so that no process ever sees it empty: the SQLite header (in WAL mode)
 * is written to a temporary file beside it, which is then linked into place, atomically and only if
 * the path is still free (another process creating the same store at the same moment wins, and its
 * file is used). An empty file at a store's path is therefore never Sluice's: it is refused.
 */
export function createStoreFile(path: string): void {
  if (existsSync(path)) return;
  const temporary = `${path}.creating-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const db = new Database(temporary);
    try {
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
    try {
      linkSync(temporary, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      // A filesystem without hard links: an exclusive copy (empty for an instant only there).
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        try {
          copyFileSync(temporary, path, constants.COPYFILE_EXCL);
        } catch (copyError) {
          if ((copyError as NodeJS.ErrnoException).code !== 'EEXIST') throw copyError;
        }
        return;
      }
      throw error;
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${temporary}${suffix}`, { force: true });
  }
}
