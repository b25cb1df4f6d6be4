import assert from 'node:assert/strict';
import { newRun, storeContract } from './fixtures.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The ApiTokens and Verifications ports: the admin API's tokens, and the results of verifying runs. */
storeContract('API tokens and verifications', (withStore) => {
  withStore('creates, finds, lists and revokes tokens, a revoked one only once', async (store) => {
    const created = await store.createToken({ id: 'tk_b', name: 'ci', scope: 'write', hash: 'h'.repeat(64), createdBy: 'admin' });
    assert.deepEqual(
      { ...created, createdAt: 'x' },
      {
        id: 'tk_b',
        name: 'ci',
        scope: 'write',
        hash: 'h'.repeat(64),
        createdBy: 'admin',
        createdAt: 'x',
        revokedAt: null,
      },
    );
    assert.match(created.createdAt, ISO);
    assert.deepEqual(await store.getToken('tk_b'), created);
    assert.equal(await store.getToken('tk_none'), undefined);
    await store.createToken({ id: 'tk_a', name: 'dash', scope: 'read', hash: 'g'.repeat(64), createdBy: 'admin' });
    const listed = await store.listTokens();
    assert.deepEqual(listed.map((t) => t.id).sort(), ['tk_a', 'tk_b']);
    const byTimeThenId = [...listed].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    assert.deepEqual(listed, byTimeThenId, 'by creation time, then id');

    assert.equal(await store.revokeToken('tk_b'), true);
    assert.equal(await store.revokeToken('tk_b'), false, 'a token is revoked once');
    assert.equal(await store.revokeToken('tk_none'), false);
    const revoked = await store.getToken('tk_b');
    assert.match(revoked!.revokedAt ?? '', ISO);
    assert.equal((await store.getToken('tk_a'))!.revokedAt, null);
  });

  withStore("records a run's verifications and lists them in the order they were recorded", async (store) => {
    const run = await store.createRun(newRun());
    const other = await store.createRun(newRun());
    await store.recordVerification({ runId: run.id, check: 'count', passed: true, detail: '200 = 200', actor: 'op' });
    await store.recordVerification({ runId: other.id, check: 'count', passed: true, detail: 'other run', actor: 'op' });
    await store.recordVerification({ runId: run.id, check: 'nulls', passed: false, detail: '3 rows left', actor: 'ci' });
    const listed = await store.listVerifications(run.id);
    assert.deepEqual(
      listed.map(({ at, ...rest }) => rest),
      [
        { runId: run.id, check: 'count', passed: true, detail: '200 = 200', actor: 'op' },
        { runId: run.id, check: 'nulls', passed: false, detail: '3 rows left', actor: 'ci' },
      ],
    );
    assert.ok(listed.every((v) => ISO.test(v.at)));
    assert.deepEqual(await store.listVerifications('r_none'), []);
  });
});
