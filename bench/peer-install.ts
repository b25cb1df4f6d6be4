/**
 * Installs the job queues the peer benchmark compares with (bench/peers/package.json, its own lock
 * file) when they are missing or not the pinned versions, so that `npm run bench` works from a
 * fresh clone while the queues never become dependencies of sluice.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const peersDir = fileURLToPath(new URL('./peers/', import.meta.url));

function installedVersion(name: string): string | undefined {
  const manifest = join(peersDir, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : undefined;
}

/** The pinned packages that are absent or at another version (empty when the install is current). */
function staleDependencies(): string[] {
  const { dependencies } = JSON.parse(readFileSync(join(peersDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return Object.entries(dependencies)
    .filter(([name, version]) => installedVersion(name) !== version)
    .map(([name]) => name);
}

export function ensurePeersInstalled(): void {
  const stale = staleDependencies();
  if (stale.length === 0) return;
  console.log(`installing the benchmark's job queues into bench/peers (${stale.join(', ')} missing or not the pinned version)…`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // stdout to stderr: the benchmark's own output stays the tables.
  execFileSync(npm, ['ci', '--prefix', peersDir, '--no-audit', '--no-fund'], { stdio: ['ignore', process.stderr, 'inherit'] });
  const still = staleDependencies();
  if (still.length > 0) throw new Error(`npm ci in bench/peers did not install ${still.join(', ')} at the pinned versions`);
}
