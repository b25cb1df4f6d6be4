import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { ownerGoneFromThisHost, processIdentity } from '../../src/core/ids.js';
import { systemClock } from '../../src/core/clock.js';

describe('lease owners: ownerGoneFromThisHost', () => {
  it('says gone only for a pid of this host that no longer exists', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((done) => child.on('exit', done));
    assert.equal(ownerGoneFromThisHost(`${hostname()}:${pid}:abc123`), true);
    assert.equal(ownerGoneFromThisHost(`${hostname()}:${process.ppid}:abc123`), false, 'a live process');
    assert.equal(ownerGoneFromThisHost(`${hostname()}:${process.pid}:abc123`), false, 'this process');
    assert.equal(ownerGoneFromThisHost(`another-host.invalid:${pid}:abc123`), false, 'another host cannot be checked');
    assert.equal(ownerGoneFromThisHost('not-an-owner'), false);
    assert.equal(ownerGoneFromThisHost(`${hostname()}:zero:abc`), false);
  });

  it('reads the owners processIdentity makes: this process is not gone', () => {
    assert.equal(ownerGoneFromThisHost(processIdentity(systemClock).id), false);
  });
});
