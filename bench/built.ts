/**
 * The compiled package (dist/), as users run it, for the benchmarks that start processes of their
 * own (resume, memory): a process started through tsx would spend hundreds of milliseconds and
 * tens of megabytes transforming TypeScript that no installed copy of Sluice ever runs. Rebuilt
 * here when any file under src/ is newer than the build, so that a benchmark never measures stale code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function newestUnder(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const marker = join(root, 'dist', 'index.js');
  if (existsSync(marker) && statSync(marker).mtimeMs >= newestUnder(join(root, 'src'))) return;
  console.error('  building dist/ (npm run build) for the benchmark processes');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
}
