import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { packageVersion } from '../../src/index.js';

describe('packageVersion', () => {
  it("is the version in the package's package.json, read once", () => {
    const expected = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    assert.equal(packageVersion(), expected);
    assert.equal(packageVersion(), expected);
  });
});
