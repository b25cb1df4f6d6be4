import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { ownerGoneFromThisHost, processIdentity, rememberOwnIdentity } from '../../src/core/ids.js';

describe('lease owners: ownerGoneFromThisHost', () => {
  it('says gone only for a pid of this host that no longer exists', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((done) => child.on('exit', done));
    assert.equal(ownerGoneFromThisHost(`${hostname()}:${pid}:abc123`), true);
    assert.equal(ownerGoneFromThisHost(`${hostname()}:${process.ppid}:abc123`), false, 'a live process');
    assert.equal(ownerGoneFromThisHost(`another-host.invalid:${pid}:abc123`), false, 'another host cannot be checked');
    assert.equal(ownerGoneFromThisHost('not-an-owner'), false);
    assert.equal(ownerGoneFromThisHost(`${hostname()}:zero:abc`), false);
  });

  it("this process's engines are not gone, whoever made their identity", () => {
    assert.equal(ownerGoneFromThisHost(processIdentity(systemClock).id), false, 'an identity processIdentity made');
    const given = `${hostname()}:${process.pid}:given1`;
    rememberOwnIdentity(given);
    assert.equal(ownerGoneFromThisHost(given), false, 'an identity given to an engine');
  });

  it('an owner with this pid that is none of its engines was an earlier process with the pid (a restarted container): gone', () => {
    assert.equal(ownerGoneFromThisHost(`${hostname()}:${process.pid}:before`), true);
  });
});
