import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/server/tokens.js';
import { call, type Harness, harness, stores } from '../helpers/api.js';

/** Reads the stream until it ends; the milliseconds that took, or undefined when it still streams after `limitMs`. */
async function endsWithin(reader: ReadableStreamDefaultReader<string>, limitMs: number): Promise<number | undefined> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), limitMs)));
  const end = (async () => {
    for (;;) if ((await reader.read()).done) return Date.now() - started;
  })();
  try {
    return await Promise.race([end, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function openStream(h: Harness, token: string) {
  const response = await fetch(`${h.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const first = await reader.read();
  assert.match(first.value ?? '', /^event: runs\n/, 'the snapshot arrives');
  return reader;
}

for (const [name, open] of stores) {
  describe(`a revoked token's event stream on ${name}`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(open);
    });
    after(async () => h.close());

    it('ends within a second of `sluice token revoke` in another process (the store says so)', async () => {
      const { token, record } = await createToken(h.sluice.store, { name: 'watcher', scope: 'read', createdBy: 'test' });
      const reader = await openStream(h, token);
      const other = await openStream(h, h.tokens.read);
      assert.equal(await h.sluice.store.revokeToken(record.id), true);
      const took = await endsWithin(reader, 1000);
      assert.ok(took !== undefined, 'the stream of the revoked token still streams a second after revocation');
      assert.equal(await endsWithin(other, 300), undefined, 'a stream of a live token goes on');
      await other.cancel();
    });

    it('ends at once when revoked through the API', async () => {
      const { token, record } = await createToken(h.sluice.store, { name: 'watcher2', scope: 'read', createdBy: 'test' });
      const reader = await openStream(h, token);
      assert.equal((await call(h, 'DELETE', `/api/v1/tokens/${record.id}`, { token: h.tokens.admin })).status, 200);
      assert.ok((await endsWithin(reader, 1000)) !== undefined, 'the stream still streams after revocation through the API');
    });
  });
}
