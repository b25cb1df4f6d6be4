import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

/** Biome on files laid out as in the repository, with the repository's biome.json: its diagnostics as `file:line rule`. */
function lint(dir: string): Promise<{ code: number; findings: string[]; output: string }> {
  return new Promise((resolve) => {
    execFile(
      BIOME,
      ['lint', '--vcs-enabled=false', '--max-diagnostics=none', '--reporter=github', '.'],
      { cwd: dir },
      (error, stdout, stderr) => {
        const findings = [...stdout.matchAll(/^::error title=([^,]+),file=([^,]+),line=(\d+)/gm)]
          .map(([, rule, file, line]) => `${file}:${line} ${rule}`)
          .sort();
        resolve({ code: error ? Number(error.code ?? 1) : 0, findings, output: `${stdout}${stderr}` });
      },
    );
  });
}

/**
 * The import rules of biome.json: the core imports no adapter and none of their libraries, and the
 * examples import Sluice only through its public entry points (test/unit/entry-points.test.ts checks
 * the repository's own files the same way; this checks that the linter would catch a new one), and so
 * does the CLI.
 */
describe('lint: import boundaries', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const write = (file: string, text: string) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  before(async () => {
    ({ dir, cleanup } = await tempDir('sluice-lint-'));
    copyFileSync(join(ROOT, 'biome.json'), join(dir, 'biome.json'));
  });
  after(async () => cleanup());

  it('fails on a deep import in an example or the CLI and on an adapter imported by the core, naming the rule; passes the allowed ones', async () => {
    write(
      'examples/deep/run.ts',
      `import { createSluice } from '../../src/index.js';
import { openSqliteStore } from 'sluice/dist/sqlite.js';
import { defineBackfill } from 'sluice';
import { openPostgresStore } from 'sluice/postgres';
import { seed } from '../shared/example.js';
import { helper } from './helper.js';
console.log(createSluice, openSqliteStore, defineBackfill, openPostgresStore, seed, helper);
`,
    );
    write(
      'src/core/engine-x.ts',
      `import Database from 'better-sqlite3';
import { buildServer } from '../server/server.js';
import { SluiceError } from './errors.js';
console.log(Database, buildServer, SluiceError);
`,
    );
    write(
      'src/core/slo/monitor-x.ts',
      `import pg from 'pg';
import { openSqliteStore } from '../../sqlite.js';
import { SluiceError } from '../errors.js';
console.log(pg, openSqliteStore, SluiceError);
`,
    );
    write(
      'src/cli/main-x.ts',
      `import { Engine } from '../core/engine.js';
import { createSluice } from '../index.js';
import { openSqliteStore } from '../sqlite.js';
import { parseFlags } from './options.js';
console.log(Engine, createSluice, openSqliteStore, parseFlags);
`,
    );
    write(
      'src/cli/commands/run-x.ts',
      `import { openSqliteStore } from '../../stores/sqlite/sqlite-store.js';
import { openPostgresStore } from '../../postgres.js';
import { context } from '../context.js';
console.log(openSqliteStore, openPostgresStore, context);
`,
    );
    const { code, findings, output } = await lint(dir);
    assert.notEqual(code, 0, output);
    assert.deepEqual(
      findings,
      [
        'examples/deep/run.ts:1 lint/style/noRestrictedImports',
        'examples/deep/run.ts:2 lint/style/noRestrictedImports',
        'src/cli/commands/run-x.ts:1 lint/style/noRestrictedImports',
        'src/cli/main-x.ts:1 lint/style/noRestrictedImports',
        'src/core/engine-x.ts:1 lint/style/noRestrictedImports',
        'src/core/engine-x.ts:2 lint/style/noRestrictedImports',
        'src/core/slo/monitor-x.ts:1 lint/style/noRestrictedImports',
        'src/core/slo/monitor-x.ts:2 lint/style/noRestrictedImports',
      ],
      output,
    );
  });
});
