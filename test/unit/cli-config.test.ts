import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, UsageError } from '../../src/core/errors.js';
import { findConfig, loadConfig } from '../../src/cli/config.js';
import { exitCodeOfError } from '../../src/cli/exit-codes.js';
import { dbPathOf } from '../../src/cli/context.js';
import { tempDir } from '../helpers/temp.js';

/** Something shaped like a definition: loadConfig checks the shape, defineBackfill checks the rest. */
const FAKE = "{ name: 'fake', process() {}, source: { kind: 'test', open() {} } }";

describe('CLI config loading', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  /** A fresh directory holding one file. */
  function withFile(name: string, file: string, text: string): string {
    const cwd = join(dir, name);
    mkdirSync(cwd);
    writeFileSync(join(cwd, file), text);
    return cwd;
  }

  it('finds sluice.config.ts first, then .mts, .js, .mjs; nothing when there is none', () => {
    const cwd = join(dir, 'find');
    mkdirSync(cwd);
    assert.equal(findConfig(undefined, cwd), undefined);
    writeFileSync(join(cwd, 'sluice.config.mjs'), 'export default [];');
    assert.equal(findConfig(undefined, cwd), join(cwd, 'sluice.config.mjs'));
    writeFileSync(join(cwd, 'sluice.config.js'), 'export default [];');
    assert.equal(findConfig(undefined, cwd), join(cwd, 'sluice.config.js'));
    writeFileSync(join(cwd, 'sluice.config.ts'), 'export default [];');
    assert.equal(findConfig(undefined, cwd), join(cwd, 'sluice.config.ts'));
  });

  it('--config names a file relative to the working directory, which must exist', () => {
    const cwd = withFile('explicit', 'backfills.mjs', 'export default [];');
    assert.equal(findConfig('backfills.mjs', cwd), join(cwd, 'backfills.mjs'));
    assert.throws(
      () => findConfig('nope.ts', cwd),
      (e: unknown) => e instanceof UsageError && e.message === '--config nope.ts: no such file',
    );
  });

  it('accepts an array or { backfills: [...] }, in TypeScript or JavaScript', async () => {
    const array = withFile('array', 'sluice.config.ts', `const list: unknown[] = [${FAKE}];\nexport default list;\n`);
    assert.deepEqual(
      (await loadConfig(join(array, 'sluice.config.ts'))).map((d) => d.name),
      ['fake'],
    );
    const object = withFile('object', 'sluice.config.mjs', `export default { backfills: [${FAKE}, { ...${FAKE}, name: 'other' }] };\n`);
    assert.deepEqual(
      (await loadConfig(join(object, 'sluice.config.mjs'))).map((d) => d.name),
      ['fake', 'other'],
    );
    const empty = withFile('empty', 'sluice.config.js', 'export default [];\n');
    assert.deepEqual(await loadConfig(join(empty, 'sluice.config.js')), []);
  });

  it('a config that throws while loading is a ConfigError (exit 2) carrying its message', async () => {
    const cwd = withFile('throws', 'sluice.config.ts', "throw new Error('DATABASE_URL is not set');\nexport default [];\n");
    const path = join(cwd, 'sluice.config.ts');
    await assert.rejects(loadConfig(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(exitCodeOfError(e), 2);
      assert.equal(e.message, `could not load ${path}: DATABASE_URL is not set`);
      return true;
    });
  });

  it('a config with a syntax error is a ConfigError too', async () => {
    const cwd = withFile('syntax', 'sluice.config.mjs', 'export default [;\n');
    await assert.rejects(
      loadConfig(join(cwd, 'sluice.config.mjs')),
      (e: unknown) => e instanceof ConfigError && /^could not load /.test(e.message),
    );
  });

  it('refuses a default export of the wrong shape, naming what is expected', async () => {
    const none = withFile('no-default', 'sluice.config.mjs', 'export const backfills = [];\n');
    await assert.rejects(
      loadConfig(join(none, 'sluice.config.mjs')),
      (e: unknown) => e instanceof ConfigError && /must export default an array of backfills/.test(e.message),
    );
    const notDefinition = withFile('not-definition', 'sluice.config.mjs', `export default [${FAKE}, { name: 'half' }];\n`);
    await assert.rejects(
      loadConfig(join(notDefinition, 'sluice.config.mjs')),
      (e: unknown) => e instanceof ConfigError && /backfill #2 is not a definition made with defineBackfill/.test(e.message),
    );
  });
});

describe('CLI store location', () => {
  it('--db, else SLUICE_DB, else ./.sluice/sluice.db; SQLite paths are made absolute, URLs kept', () => {
    const saved = process.env.SLUICE_DB;
    try {
      delete process.env.SLUICE_DB;
      assert.equal(dbPathOf({}), resolve('.sluice/sluice.db'));
      process.env.SLUICE_DB = 'from-env.db';
      assert.equal(dbPathOf({}), resolve('from-env.db'));
      assert.equal(dbPathOf({ db: 'flag.db' }), resolve('flag.db'));
      assert.equal(dbPathOf({ db: 'postgres://localhost/test' }), 'postgres://localhost/test');
    } finally {
      if (saved === undefined) delete process.env.SLUICE_DB;
      else process.env.SLUICE_DB = saved;
    }
  });
});
