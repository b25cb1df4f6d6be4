import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { call, type Harness, harness, stores } from '../helpers/api.js';
import { waitFor } from '../helpers/temp.js';

for (const [name, open] of stores) {
  describe(`admin API on ${name}`, () => {
    let h: Harness;
    before(async () => (h = await harness(open)));
    after(async () => h.close());

    it("creates a run that the server's worker executes, lists and shows it, with the token as the actor", async () => {
      const created = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'quick', owner: 'ops-team', batchSize: 50, params: { tenant: 't1' }, reason: 'ticket 42' },
      });
      assert.equal(created.status, 201, created.text);
      const run = created.json.run as { id: string; state: string; owner: string };
      assert.equal(run.owner, 'ops-team');
      const done = await waitFor(async () => {
        const got = await call(h, 'GET', `/api/v1/runs/${run.id}`, { token: h.tokens.read });
        return (got.json.run as { state: string }).state === 'succeeded' ? got.json : undefined;
      }, 'the run to succeed');
      const detail = done as {
        run: { counts: { processed: number; quarantined: number }; options: { batchSize: number }; createdBy: string };
        transitions: Array<{ to: string; actor: string; reason: string }>;
        partitions: unknown[];
        quarantine: Array<{ errorClass: string; count: number }>;
        alerts: unknown[];
        summary: { progress: number };
      };
      assert.deepEqual([detail.run.counts.processed, detail.run.counts.quarantined], [198, 2]);
      assert.equal(detail.run.options.batchSize, 50);
      assert.equal(detail.transitions[0]!.actor, 'token:writer');
      assert.equal(detail.transitions[0]!.reason, 'ticket 42');
      assert.equal(detail.summary.progress, 1);
      assert.deepEqual(detail.quarantine, [{ errorClass: 'PERMANENT', count: 2 }]);
      assert.ok(Array.isArray(detail.alerts));
      // The detail carries what `sluice status --json` does: the store's clock, whether the run is stalled, each partition's lease.
      const leases = done as {
        at: string;
        stalled: unknown;
        partitions: Array<{ leaseLive: boolean; heartbeatAt: string | null; heartbeatAgeMs: number | null; remaining: unknown }>;
      };
      assert.ok(Date.parse(leases.at) > 0);
      assert.equal(leases.stalled, null);
      assert.ok(
        leases.partitions.length > 0 &&
          leases.partitions.every(
            (p) => !p.leaseLive && p.remaining === null && p.heartbeatAt !== null && typeof p.heartbeatAgeMs === 'number',
          ),
        JSON.stringify(leases.partitions),
      );

      // Listed before `new` below makes a second run for tenant t1, which a worker may finish before it is cancelled.
      const list = await call(h, 'GET', '/api/v1/runs?backfill=quick&state=succeeded&key=tenant%3Dt1', { token: h.tokens.read });
      assert.deepEqual(
        (list.json.runs as Array<{ id: string }>).map((r) => r.id),
        [run.id],
      );

      // The same trigger again finds the success instead of writing everything twice; `new` asks for another run.
      const again = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'quick', owner: 'ops-team', params: { tenant: 't1' } },
      });
      assert.equal(again.status, 409, again.text);
      assert.equal(again.json.error, 'run_already_succeeded');
      assert.match(again.json.message as string, new RegExp(`already succeeded with these parameters \\(run ${run.id}`));
      const another = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'quick', owner: 'ops-team', params: { tenant: 't1' }, new: true, batchSize: 50, maxBatches: 1 },
      });
      assert.deepEqual([another.status, another.json.outcome], [201, 'created'], another.text);
      const open = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'quick', owner: 'ops-team', params: { tenant: 't1' } },
      });
      const anotherId = (another.json.run as { id: string }).id;
      // Either still open (answered with it) or already paused by maxBatches and handed back to the worker.
      assert.ok(
        open.status === 200 &&
          ['open', 'requeued'].includes(open.json.outcome as string) &&
          (open.json.run as { id: string }).id === anotherId,
        open.text,
      );
      await call(h, 'POST', `/api/v1/runs/${anotherId}/cancel`, { token: h.tokens.write });

      const plan = await call(h, 'POST', '/api/v1/plan', {
        token: h.tokens.read,
        body: { backfill: 'quick', concurrency: 2, params: { tenant: 't9' } },
      });
      assert.equal(plan.status, 200, plan.text);
      assert.deepEqual(
        [plan.json.plannedItems, (plan.json.options as { concurrency: number }).concurrency, plan.json.keys],
        [200, 2, { tenant: 't9' }],
      );
      const batches = await call(h, 'GET', `/api/v1/runs/${run.id}/batches`, { token: h.tokens.read });
      assert.equal((batches.json.batches as unknown[]).length, 4);

      const quarantine = await call(h, 'GET', `/api/v1/runs/${run.id}/quarantine`, { token: h.tokens.read });
      assert.deepEqual((quarantine.json.entries as Array<{ itemKey: string }>).map((e) => e.itemKey).sort(), ['194', '97']);
      const replay = await call(h, 'POST', `/api/v1/runs/${run.id}/quarantine/replay`, {
        token: h.tokens.write,
        body: { errorClass: 'PERMANENT' },
      });
      assert.equal(replay.status, 200, replay.text);
      assert.deepEqual(
        [replay.json.attempted, replay.json.replayed, replay.json.stillFailing],
        [2, 0, 2],
        'still broken: they stay quarantined',
      );
    });

    it('pauses, resumes, retunes and cancels a running run; writes are recorded with their actor', async () => {
      const created = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'slow', params: { tenant: 't2' } },
      });
      const id = (created.json.run as { id: string }).id;
      const state = async () =>
        (await call(h, 'GET', `/api/v1/runs/${id}`, { token: h.tokens.read })).json.run as {
          state: string;
          options: { batchSize: number };
        };
      await waitFor(async () => (await state()).state === 'running', 'the run to start');
      const retuned = await call(h, 'POST', `/api/v1/runs/${id}/retune`, {
        token: h.tokens.write,
        body: { batchSize: 5, reason: 'db busy' },
      });
      assert.equal(retuned.status, 200, retuned.text);
      assert.equal((await state()).options.batchSize, 5);
      assert.equal(
        (await call(h, 'POST', `/api/v1/runs/${id}/pause`, { token: h.tokens.write, body: { reason: 'maintenance' } })).status,
        200,
      );
      await waitFor(async () => (await state()).state === 'paused', 'the run to pause');
      assert.equal((await call(h, 'POST', `/api/v1/runs/${id}/resume`, { token: h.tokens.write })).status, 200);
      await waitFor(async () => (await state()).state === 'running', 'the run to run again');
      const twice = await call(h, 'POST', `/api/v1/runs/${id}/retry`, { token: h.tokens.write });
      assert.equal(twice.status, 409, 'only failed runs can be retried');
      assert.match(twice.json.message as string, /only failed runs can be retried/);
      assert.equal(
        (await call(h, 'POST', `/api/v1/runs/${id}/cancel`, { token: h.tokens.write, body: { reason: 'wrong range' } })).status,
        200,
      );
      await waitFor(async () => (await state()).state === 'cancelled', 'the run to be cancelled');
      const transitions = (await call(h, 'GET', `/api/v1/runs/${id}`, { token: h.tokens.read })).json.transitions as Array<{
        to: string;
        actor: string;
        reason: string;
      }>;
      const byWriter = transitions.filter((t) => t.actor === 'token:writer').map((t) => `${t.to}: ${t.reason}`);
      assert.ok(byWriter.includes('paused: maintenance'), JSON.stringify(transitions));
      assert.ok(byWriter.includes('cancelled: wrong range'), JSON.stringify(transitions));
      assert.ok(byWriter.some((t) => t.startsWith('pending: resumed through the API')));
    });

    it('cancels by concurrency key (admin), queues a second trigger for the same key', async () => {
      const first = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'slow', params: { tenant: 'acme' } },
      });
      const firstId = (first.json.run as { id: string }).id;
      const same = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'slow', params: { tenant: 'acme' } } });
      assert.deepEqual(
        [same.status, same.json.outcome, (same.json.run as { id: string }).id],
        [200, 'open', firstId],
        'a plain second trigger is answered with the open run',
      );
      const second = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'slow', params: { tenant: 'acme' }, new: true },
      });
      assert.equal(second.status, 201);
      await waitFor(
        async () =>
          ((await call(h, 'GET', `/api/v1/runs/${firstId}`, { token: h.tokens.read })).json.run as { state: string }).state === 'running',
        'the first run to start',
      );
      const queued = await call(h, 'GET', `/api/v1/runs/${(second.json.run as { id: string }).id}`, { token: h.tokens.read });
      assert.equal((queued.json.run as { state: string }).state, 'pending');
      assert.match(queued.json.queuedBehind as string, /tenant=acme/);
      assert.equal(
        (await call(h, 'POST', '/api/v1/cancel-by-key', { token: h.tokens.write, body: { name: 'tenant', value: 'acme' } })).status,
        403,
        'write cannot cancel by key',
      );
      const cancelled = await call(h, 'POST', '/api/v1/cancel-by-key', {
        token: h.tokens.admin,
        body: { name: 'tenant', value: 'acme', reason: 'installation deleted' },
      });
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal((cancelled.json.cancelled as unknown[]).length, 2);
    });

    it('streams run changes as server-sent events', async () => {
      const controller = new AbortController();
      const response = await fetch(`${h.url}/api/v1/events`, { headers: { 'x-api-key': h.tokens.read }, signal: controller.signal });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let received = '';
      const created = await call(h, 'POST', '/api/v1/runs', {
        token: h.tokens.write,
        body: { backfill: 'quick', params: { tenant: 't3' } },
      });
      const id = (created.json.run as { id: string }).id;
      const deadline = Date.now() + 20_000;
      while (!new RegExp(`event: run\\ndata: \\{"id":"${id}","backfill":"quick","state":"succeeded"`).test(received)) {
        assert.ok(Date.now() < deadline, `no succeeded event for ${id} in ${received.slice(-500)}`);
        received += (await reader.read()).value ?? '';
      }
      assert.match(received, /^event: runs\ndata: \{"runs":\[/, 'a snapshot comes first');
      controller.abort();
    });

    it('manages tokens (admin only) and publishes an OpenAPI 3.1 document that validates', async () => {
      const created = await call(h, 'POST', '/api/v1/tokens', { token: h.tokens.admin, body: { name: 'ci bot', scope: 'read' } });
      assert.equal(created.status, 201, created.text);
      const secret = created.json.token as string;
      assert.equal((await call(h, 'GET', '/api/v1/runs', { token: secret })).status, 200);
      const listed = await call(h, 'GET', '/api/v1/tokens', { token: h.tokens.admin });
      assert.ok(!listed.text.includes(secret.slice(-20)) && !listed.text.includes('"hash"'), 'no secrets or hashes in the list');
      assert.equal((await call(h, 'DELETE', `/api/v1/tokens/${created.json.id as string}`, { token: h.tokens.admin })).status, 200);
      assert.equal((await call(h, 'GET', '/api/v1/runs', { token: secret })).status, 401, 'a revoked token is refused at once');
      assert.equal((await call(h, 'POST', '/api/v1/tokens', { token: h.tokens.write, body: { name: 'x', scope: 'admin' } })).status, 403);

      const document = await call(h, 'GET', '/api/v1/openapi.json', { token: h.tokens.read });
      const result = await new Validator().validate(document.json);
      assert.equal(result.valid, true, JSON.stringify(result.errors));
      assert.equal(document.json.openapi, '3.1.0');
      const create = (
        document.json.paths as Record<
          string,
          Record<
            string,
            {
              requestBody: {
                content: { 'application/json': { schema: { properties: Record<string, unknown>; additionalProperties: boolean } } };
              };
            }
          >
        >
      )['/api/v1/runs']!.post!;
      const schema = create.requestBody.content['application/json'].schema;
      assert.ok('backfill' in schema.properties && 'batchSize' in schema.properties, 'the request schema is the one that validates');
      assert.equal(schema.additionalProperties, false);
    });
  });
}
