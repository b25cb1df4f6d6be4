import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp.js';

const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

/** bin/sluice.js runs the build only: a checkout that was never built says so instead of compiling src/ at run time. */
describe('bin/sluice.js without dist/', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('sluice-unbuilt-')));
  after(async () => cleanup());

  it('exits 1 naming the missing build and how to make it', () => {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(BIN, join(dir, 'bin', 'sluice.js'));
    const result = spawnSync(process.execPath, [join(dir, 'bin', 'sluice.js'), '--version'], { cwd: dir, encoding: 'utf8' });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^sluice: dist\/cli\/main\.js is missing/);
    assert.match(result.stderr, /npm run build/);
  });
});
