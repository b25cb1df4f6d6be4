import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect, jsonLines, type CliResult } from './cli.js';
import { scratchDatabase } from './postgres.js';
import { tempDir } from './temp.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `npx tsx examples/<name>/run.ts …` as its README says (node --import tsx, from the repository). */
export function runExample(
  name: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult & { lines: Array<Record<string, unknown>> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', name, 'run.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child).then((result) => ({ ...result, lines: jsonLines(result.stdout) }));
}

/** Each example runs on both stores: a fresh SQLite file, and a fresh PostgreSQL database. */
export const EXAMPLE_STORES: Array<[string, () => Promise<{ db: string; cleanup: () => Promise<void> }>]> = [
  [
    'SQLite',
    async () => {
      const { dir, cleanup } = await tempDir();
      return { db: join(dir, 'example.db'), cleanup };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const { url, drop } = await scratchDatabase('example');
      return { db: url, cleanup: drop };
    },
  ],
];
