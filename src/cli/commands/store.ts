import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { messageOf, NotFoundError, StoreError, UsageError } from '../../index.js';
import { storeFileProblems } from '../../sqlite.js';
import { dbPathOf, type GlobalFlags, isPostgresUrl } from '../context.js';

/** `sluice store check [--full]`: the SQLite store file's integrity, on demand, read-only. */
export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description('the store itself');
  store
    .command('check')
    .description('check the SQLite store file for damage, read-only: quick_check (what every open runs), or integrity_check with --full')
    .option('--full', 'PRAGMA integrity_check: also the indexes against their tables (slower)')
    .action((options: { full?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalFlags>();
      const path = dbPathOf(globals);
      if (isPostgresUrl(path)) {
        throw new UsageError(
          'store check reads an SQLite store file; a PostgreSQL server checks its own pages (see the amcheck extension)',
        );
      }
      if (!existsSync(path))
        throw new NotFoundError(`no store at ${path}`, { hint: 'pass --db (or set SLUICE_DB) to the store file to check' });
      const check = options.full ? 'full' : 'quick';
      const pragma = options.full ? 'integrity_check' : 'quick_check';
      const startedAt = Date.now();
      const problems = problemsOf(path, check);
      const ms = Date.now() - startedAt;
      if (globals.json) {
        process.stdout.write(`${JSON.stringify({ path, check: pragma, ok: problems.length === 0, problems, ms }, null, 2)}\n`);
      } else if (problems.length === 0) {
        process.stdout.write(`${path}: ${pragma} ok (${ms} ms)\n`);
      } else {
        process.stdout.write(
          `${path}: ${pragma} found ${problems.length} problem${problems.length === 1 ? '' : 's'}${problems.length >= 100 ? ' (the first 100)' : ''}:\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
        );
        process.stderr.write(
          `sluice: store ${path} is damaged; Sluice refuses to open it\n` +
            `hint: stop every process using it and restore it from a backup; to salvage what is still readable: sqlite3 ${path} ".recover" | sqlite3 ${path}.recovered, then check that copy (docs/runbook.md, "A damaged store")\n`,
        );
      }
      process.exitCode = problems.length === 0 ? 0 : 1;
    });
}

function problemsOf(path: string, check: 'quick' | 'full'): string[] {
  try {
    return storeFileProblems(path, check);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_NOTADB') {
      throw new StoreError(`${path} is not a Sluice store: the file is not a SQLite database (or its first page is damaged)`, {
        hint: "restore it from a backup, or pass --db with the store's path",
        cause: error,
      });
    }
    throw new StoreError(`cannot check ${path}: ${messageOf(error)}`, { cause: error });
  }
}
