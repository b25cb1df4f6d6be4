import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactConnectionString, redactSecrets } from '../../src/core/redact.js';
import { publicMessage, showBidiControls } from '../../src/server/public-message.js';

/** [connection string, what must remain visible, the secret that must not]. */
const HOSTILE: Array<[string, string, string]> = [
  ['postgres://postgres:TopSecret99@127.0.0.1:5432/db', 'postgres://postgres:***@127.0.0.1:5432/db', 'TopSecret99'],
  ['postgres://postgres:Xy@zzy42@127.0.0.1:1/db', 'postgres://postgres:***@127.0.0.1:1/db', 'zzy42'],
  ['postgres://postgres:a@b@c@127.0.0.1/db', 'postgres://postgres:***@127.0.0.1/db', 'b@c'],
  ['postgres://postgres:pa:ss:word@db.example/x', 'postgres://postgres:***@db.example/x', 'ss:word'],
  ['postgres://postgres:p%40ss%3Aword@db.example/x', 'postgres://postgres:***@db.example/x', 'p%40ss'],
  ['postgres://postgres:sl/ash@db.example/x', 'postgres://postgres:***@db.example/x', 'sl/ash'],
  ['postgres://postgres:what?ever@db.example/x', 'postgres://postgres:***@db.example/x', 'ever'],
  ['postgresql://u:hash#tag@db.example/x', 'postgresql://u:***@db.example/x', 'hash#tag'],
  ['postgres://postgres@127.0.0.1:5432/db?password=TopSecret99', 'postgres://postgres@127.0.0.1:5432/db?password=***', 'TopSecret99'],
  [
    'postgres://127.0.0.1/db?sslmode=require&password=TopSecret99&application_name=x',
    'postgres://127.0.0.1/db?sslmode=require&password=***&application_name=x',
    'TopSecret99',
  ],
  [
    'postgres://127.0.0.1/db?sslpassword=KeyPass1&sslkey=/home/me/key.pem',
    'postgres://127.0.0.1/db?sslpassword=***&sslkey=***',
    'KeyPass1',
  ],
  ['postgres://127.0.0.1/db?PASSWORD=Upper1', 'postgres://127.0.0.1/db?PASSWORD=***', 'Upper1'],
  ['postgres://u:in-url@h/db?password=in-query', 'postgres://u:***@h/db?password=***', 'in-'],
  ['host=db.example port=5432 user=me password=KvSecret1 dbname=x', 'host=db.example port=5432 user=me password=*** dbname=x', 'KvSecret1'],
  ["host=db.example password='quoted secret' dbname=x", 'host=db.example password=*** dbname=x', 'quoted secret'],
  ['password = spaced1 host=h', 'password = *** host=h', 'spaced1'],
];

describe('redaction of connection strings', () => {
  for (const [input, expected, secret] of HOSTILE) {
    it(`hides the secret of ${input}`, () => {
      const redacted = redactConnectionString(input);
      assert.equal(redacted, expected);
      assert.ok(!redacted.includes(secret), redacted);
    });
  }

  it('leaves what holds no secret as it is', () => {
    for (const plain of [
      'postgres://postgres@127.0.0.1:5432/test',
      '/var/lib/sluice/store.db',
      'postgres://h/db?sslmode=verify-full&application_name=a',
    ]) {
      assert.equal(redactConnectionString(plain), plain);
    }
  });

  it('finds connection strings inside a message or a JSON log line', () => {
    const message =
      'the store does not answer: store postgres://postgres@127.0.0.1:1/db?password=TopSecret99: connect ECONNREFUSED 127.0.0.1:1';
    assert.equal(
      redactSecrets(message),
      'the store does not answer: store postgres://postgres@127.0.0.1:1/db?password=***: connect ECONNREFUSED 127.0.0.1:1',
    );
    const line = JSON.stringify({
      level: 50,
      msg: 'API request failed: store postgres://u:Pa@ss@h/db: boom',
      err: { stack: 'Error: store postgres://u:Pa@ss@h/db\n    at x' },
    });
    const redacted = redactSecrets(line);
    assert.ok(!redacted.includes('Pa@ss'), redacted);
    assert.doesNotThrow(() => JSON.parse(redacted));
  });
});

describe('messages in HTTP answers', () => {
  it('name no store location', () => {
    assert.equal(publicMessage('no run "r_x" in /srv/sluice/store.db', '/srv/sluice/store.db'), 'no run "r_x"');
    assert.equal(
      publicMessage('store postgres://u@h/db?password=***: connect ECONNREFUSED', 'postgres://u@h/db?password=***'),
      'connect ECONNREFUSED',
    );
    assert.equal(publicMessage('store /a.db is closed', '/a.db'), 'the store is closed');
  });

  it('show bidi controls instead of obeying them', () => {
    assert.equal(showBidiControls('unknown backfill "\u202Eevil\u2066"'), 'unknown backfill "<U+202E>evil<U+2066>"');
    assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(publicMessage('a\u202Ab\u202Bc\u202Cd\u202De\u202Ef\u2066g\u2067h\u2068i\u2069', '')));
  });
});
