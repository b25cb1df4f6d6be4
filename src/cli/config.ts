import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createJiti, type Jiti } from 'jiti';
import { type BackfillDefinition, ConfigError, isSluiceError, messageOf, UsageError } from '../index.js';

const DEFAULT_FILES = ['sluice.config.ts', 'sluice.config.mts', 'sluice.config.js', 'sluice.config.mjs'];

/** Finds the config file: `--config`, else the first default name present in the working directory. */
export function findConfig(explicit: string | undefined, cwd = process.cwd()): string | undefined {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new UsageError(`--config ${explicit}: no such file`);
    return path;
  }
  return DEFAULT_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
}

/**
 * Loads the backfill definitions of a config file. Its default export is an array of definitions
 * or `{ backfills: [...] }`. TypeScript configs are loaded through jiti: pure JavaScript (no native
 * binary at install, unlike esbuild behind tsx), the same on every Node line, and it accepts the whole
 * TypeScript syntax and `./x.js` specifiers naming `./x.ts`, which Node's own type stripping does not.
 */
export async function loadConfig(path: string): Promise<BackfillDefinition<unknown>[]> {
  let module: { default?: unknown };
  try {
    const url = pathToFileURL(path).href;
    if (/\.m?ts$/.test(path)) {
      module = (await typeScriptLoader().import(url)) as { default?: unknown };
    } else {
      module = (await import(url)) as { default?: unknown };
    }
  } catch (error) {
    if (isSluiceError(error)) {
      throw new ConfigError(`could not load ${path}: ${error.message}`, { hint: error.hint, cause: error });
    }
    throw new ConfigError(`could not load ${path}: ${messageOf(error)}`, { cause: error });
  }
  // A loader may wrap a default export once more when it loads an ES module as CommonJS.
  let exported = module.default;
  if (exported && typeof exported === 'object' && !Array.isArray(exported) && 'default' in exported && !('backfills' in exported)) {
    exported = (exported as { default: unknown }).default;
  }
  const list = Array.isArray(exported) ? exported : (exported as { backfills?: unknown } | undefined)?.backfills;
  if (!Array.isArray(list)) {
    throw new ConfigError(`${path} must export default an array of backfills (defineBackfill(...)) or { backfills: [...] }`);
  }
  list.forEach((definition, i) => {
    const d = definition as Partial<BackfillDefinition<unknown>> | null;
    if (!d || typeof d.name !== 'string' || typeof d.process !== 'function' || !d.source) {
      throw new ConfigError(`${path}: backfill #${i + 1} is not a definition made with defineBackfill(...)`);
    }
  });
  return list as BackfillDefinition<unknown>[];
}

let jiti: Jiti | undefined;

/**
 * One jiti for the process. It keeps its transpile cache (node_modules/.cache/jiti, else the temp
 * directory), each entry checked against a hash of its source, so an edited config is transpiled
 * again. `interopDefault` is off so that `default` is the module's own default export, not a proxy
 * merging it with the named ones.
 */
function typeScriptLoader(): Jiti {
  jiti ??= createJiti(import.meta.url, { moduleCache: false, interopDefault: false });
  return jiti;
}
