import { createRequire } from 'node:module';

let cached: string | undefined | null = null;

/**
 * The installed package's version, from its package.json (src/core and dist/core are both two levels
 * below the package root), or undefined where it cannot be read (a bundled copy). Read once.
 */
export function packageVersion(): string | undefined {
  if (cached === null) {
    try {
      const version = (createRequire(import.meta.url)('../../package.json') as { version?: unknown }).version;
      cached = typeof version === 'string' ? version : undefined;
    } catch {
      cached = undefined;
    }
  }
  return cached;
}
