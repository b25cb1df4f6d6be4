import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostAllowed } from '../../src/server/host-check.js';

describe('the Host check', () => {
  it('on loopback: loopback literals and localhost, never a name (DNS rebinding)', () => {
    for (const host of ['127.0.0.1:8080', '127.0.0.1', 'localhost:8080', 'LOCALHOST', '[::1]:8080', 'localhost.'])
      assert.ok(hostAllowed(host, '127.0.0.1', []), host);
    for (const host of ['evil.example', 'evil.example:8080', '10.0.0.5:8080', 'localhost.evil.example', '127.0.0.1.nip.io', 'a b', 'x:y:z'])
      assert.ok(!hostAllowed(host, '127.0.0.1', []), host);
  });

  it('on every interface: any IP literal and localhost; names only when allowed', () => {
    for (const host of ['10.0.0.5:8080', '[fe80::1]:80', 'localhost', '192.168.1.2']) assert.ok(hostAllowed(host, '0.0.0.0', []), host);
    assert.ok(!hostAllowed('sluice.example.com', '0.0.0.0', []));
    assert.ok(hostAllowed('Sluice.Example.com:443', '::', ['sluice.example.com']));
  });

  it('on one address: that literal, and the names allowed', () => {
    assert.ok(hostAllowed('10.0.0.5:8080', '10.0.0.5', []));
    assert.ok(!hostAllowed('10.0.0.6', '10.0.0.5', []));
    assert.ok(!hostAllowed('localhost', '10.0.0.5', []));
    assert.ok(hostAllowed('admin.internal', '10.0.0.5', ['admin.internal']));
  });

  it('"*" turns the check off; a request without Host passes', () => {
    assert.ok(hostAllowed('anything.example', '127.0.0.1', ['*']));
    assert.ok(hostAllowed(undefined, '127.0.0.1', []));
  });
});
