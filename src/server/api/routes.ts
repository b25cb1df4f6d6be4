import type { Sluice } from '../../core/sluice.js';
import { actorOf } from '../auth.js';
import { ApiError } from '../http-errors.js';
import { createToken } from '../tokens.js';
import { type AnyRoute, route } from './route.js';
import { z } from 'zod';
import {
  alertsAnswer,
  backfillsAnswer,
  batchesAnswer,
  cancelledAnswer,
  createdTokenAnswer,
  dryRunAnswer,
  grafanaAnswer,
  reportAnswer,
  whoAmIAnswer,
  enqueuedAnswer,
  planAnswer,
  quarantineAnswer,
  replayAnswer,
  revokedAnswer,
  runAnswer,
  runsAnswer,
  runStatusAnswer,
  tokensAnswer,
} from './responses.js';
import { summarize } from './run-summary.js';
import { buildRunReport } from '../../observe/report/run-report.js';
import { grafanaDashboard } from '../../observe/grafana-dashboard.js';
import {
  batchesQuery,
  cancelByKeyBody,
  planBody,
  controlBody,
  createRunBody,
  createTokenBody,
  emptyQuery,
  listRunsQuery,
  quarantineQuery,
  replayBody,
  retuneBody,
  runIdParams,
  tokenIdParams,
} from './schemas.js';

/** Every route of `/api/v1` except the event stream and the OpenAPI document; `tokenRevoked` ends the revoked token's open streams. */
export function apiRoutes(sluice: Sluice, hooks: { tokenRevoked?(id: string): void } = {}): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/v1/backfills',
      scope: 'read',
      tag: 'backfills',
      responses: { 200: backfillsAnswer },
      summary: 'The defined backfills with their defaults and SLOs',
      handler: async () => ({
        backfills: sluice.backfills().map((d) => ({
          name: d.name,
          description: d.description,
          source: d.source.description,
          delivery: d.delivery,
          batchSize: d.batchSize,
          concurrency: d.concurrency,
          concurrencyKeys: d.concurrencyKeys,
          slo:
            d.slo?.objectives.map((o) => ({
              name: o.name,
              description: o.description,
              sli: o.sli,
              objective: o.objective,
              tiers: o.tiers,
            })) ?? [],
        })),
      }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/whoami',
      scope: 'read',
      tag: 'tokens',
      responses: { 200: whoAmIAnswer },
      summary: 'The token of this request: its name and scope (what the dashboard shows and enables)',
      query: emptyQuery,
      handler: async ({ request }) => {
        const { id, name, scope, createdBy, createdAt } = request.token!;
        return { id, name, scope, createdBy, createdAt };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/grafana-dashboard',
      scope: 'read',
      tag: 'slo',
      responses: { 200: grafanaAnswer },
      summary: 'A Grafana dashboard for these backfills (JSON to import), as `sluice slo dashboard` writes it',
      query: emptyQuery,
      handler: async () => grafanaDashboard(sluice.backfills()),
    }),
    route({
      method: 'GET',
      url: '/api/v1/runs/:id/report',
      scope: 'read',
      tag: 'runs',
      responses: { 200: reportAnswer },
      errors: [404],
      summary: "The run's audit report (the report the CLI prints as JSON)",
      params: runIdParams,
      query: emptyQuery,
      handler: async ({ params }) => {
        const { id } = params as { id: string };
        if (!(await sluice.store.getRun(id))) throw new ApiError(404, 'not_found', `no run "${id}"`);
        return buildRunReport(sluice, id);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/runs',
      scope: 'read',
      tag: 'runs',
      responses: { 200: runsAnswer },
      summary: 'Runs, newest first, filtered by backfill, state or concurrency key',
      query: listRunsQuery,
      handler: async ({ query }) => {
        const q = query as import('zod').infer<typeof listRunsQuery>;
        const key =
          q.key === undefined ? undefined : { name: q.key.slice(0, q.key.indexOf('=')), value: q.key.slice(q.key.indexOf('=') + 1) };
        const limit = q.limit ?? 100;
        const offset = q.offset ?? 0;
        // The store lists newest first with a limit; a page is read as the runs up to its end, and one
        // more to know whether another page follows (paging is for people, a few pages deep).
        const listed = await sluice.listRuns({
          backfill: q.backfill,
          states: q.state ? [q.state] : undefined,
          key,
          limit: offset + limit + 1,
        });
        const runs = listed.slice(offset, offset + limit);
        // Rates and ETAs by the store's clock, which set the runs' times (this process's may be off it).
        const now = await sluice.store.clockNow();
        return { runs: runs.map((r) => summarize(r, now)), nextOffset: listed.length > offset + limit ? offset + limit : null };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/runs',
      scope: 'write',
      tag: 'runs',
      status: 201,
      responses: { 201: enqueuedAnswer, 200: z.union([enqueuedAnswer, dryRunAnswer]) },
      errors: [404, 409],
      summary: "Create a run: pending for the workers (and this server's own worker), or a dry run answered at once",
      body: createRunBody,
      handler: async ({ body, request, reply }) => {
        const b = body as import('zod').infer<typeof createRunBody>;
        if (!sluice.backfills().some((d) => d.name === b.backfill))
          throw new ApiError(
            404,
            'not_found',
            `unknown backfill "${b.backfill}"; defined: ${sluice
              .backfills()
              .map((d) => d.name)
              .join(', ')}`,
            'backfill',
          );
        const params = {
          ...(b.params ?? {}),
          ...(b.from ? { from: b.from } : {}),
          ...(b.to ? { to: b.to } : {}),
          ...(b.owner ? { owner: b.owner } : {}),
        };
        const options = {
          ...(b.since !== undefined ? { since: b.since } : {}),
          ...(b.batchSize ? { batchSize: b.batchSize } : {}),
          ...(b.concurrency ? { concurrency: b.concurrency } : {}),
          ...(b.maxBatches ? { maxBatches: b.maxBatches } : {}),
          ...(b.profile ? { profile: b.profile } : {}),
          ...(b.mode === 'reprocess-all' ? { reprocess: 'all' as const } : {}),
          params,
          actor: actorOf(request),
          reason: b.reason ?? `created through the API${b.owner ? ` for ${b.owner}` : ''}`,
        };
        if (b.dryRun) {
          if (!b.maxBatches || b.maxBatches > 100)
            throw new ApiError(
              400,
              'bad_request',
              'body.maxBatches: a dry run through the API needs maxBatches between 1 and 100 (it runs while the request waits)',
              'maxBatches',
            );
          const outcome = await (await sluice.start(b.backfill, { ...options, dryRun: true })).done;
          reply.code(200);
          return { dryRun: true, state: outcome.state, counts: outcome.counts, batches: outcome.batches, durationMs: outcome.durationMs };
        }
        // The engine's refusals (a missing concurrency key, a reprocess mode for an open run) are
        // answered by the error handler: their own status and code, and their hint in the API's terms.
        const { run, outcome } = await sluice.enqueue(b.backfill, { ...options, newRun: b.new === true });
        // 201 only for a run this request recorded; the open run it found is answered with 200.
        if (outcome !== 'created') return reply.code(200).send({ run: summarize(run), outcome });
        return { run: summarize(run), outcome };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/plan',
      scope: 'read',
      tag: 'runs',
      responses: { 200: planAnswer },
      errors: [404],
      summary: 'What a new run would cover: partitions, planned items and options; nothing is recorded',
      body: planBody,
      handler: async ({ body }) => {
        if (!sluice.backfills().some((d) => d.name === body.backfill))
          throw new ApiError(404, 'not_found', `unknown backfill "${body.backfill}"`, 'backfill');
        return await sluice.preview(body.backfill, {
          since: body.since,
          concurrency: body.concurrency,
          batchSize: body.batchSize,
          params: body.params,
        });
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/runs/:id',
      scope: 'read',
      tag: 'runs',
      responses: { 200: runStatusAnswer },
      errors: [404],
      summary:
        'One run: partitions (lease owner, expiry, heartbeat age, range left), counts, whether it is stalled, transitions, quarantine by class, throttle, SLO alerts',
      params: runIdParams,
      handler: async ({ params }) => {
        const status = await sluice.status((params as { id: string }).id);
        return { ...status, summary: summarize(status.run, await sluice.store.clockNow()) };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/runs/:id/batches',
      scope: 'read',
      tag: 'runs',
      responses: { 200: batchesAnswer },
      errors: [404],
      summary: "The run's committed batches (duration, counts, worker), for charts",
      params: runIdParams,
      query: batchesQuery,
      handler: async ({ params, query }) => {
        const { id } = params as { id: string };
        await sluice.status(id); // 404 for an unknown run
        const q = query as { afterId?: number; limit?: number };
        return { batches: await sluice.store.listBatches(id, { afterId: q.afterId ?? 0, limit: q.limit ?? 2000 }) };
      },
    }),
    ...(['pause', 'cancel'] as const).map((verb) =>
      route({
        method: 'POST',
        url: `/api/v1/runs/:id/${verb}`,
        scope: 'write',
        tag: 'control',
        responses: { 200: runAnswer },
        errors: [404, 409],
        summary: verb === 'pause' ? 'Pause at the next batch boundary' : 'Cancel at the next batch boundary',
        params: runIdParams,
        body: controlBody,
        handler: async ({ params, body, request }) => {
          const { id } = params;
          const reason = body.reason ?? `${verb === 'pause' ? 'paused' : 'cancelled'} through the API`;
          return { run: summarize(await sluice[verb](id, actorOf(request), reason)) };
        },
      }),
    ),
    route({
      method: 'POST',
      url: '/api/v1/runs/:id/resume',
      scope: 'write',
      tag: 'control',
      responses: { 200: runAnswer },
      errors: [404, 409],
      summary: 'Hand a paused run back to the workers',
      params: runIdParams,
      body: controlBody,
      handler: async ({ params, body, request }) => ({
        run: summarize(
          await sluice.requeue(
            (params as { id: string }).id,
            actorOf(request),
            (body as { reason?: string }).reason ?? 'resumed through the API',
          ),
        ),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/runs/:id/retry',
      scope: 'write',
      tag: 'control',
      responses: { 200: runAnswer },
      errors: [404, 409],
      summary: 'Reopen a failed run: its failed partitions go back to the workers',
      params: runIdParams,
      body: controlBody,
      handler: async ({ params, body, request }) => ({
        run: summarize(
          await sluice.reopen(
            (params as { id: string }).id,
            actorOf(request),
            (body as { reason?: string }).reason ?? 'retried through the API',
          ),
        ),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/runs/:id/retune',
      scope: 'write',
      tag: 'control',
      responses: { 200: runAnswer },
      errors: [404, 409],
      summary: "Change a running run's throttle; every worker applies it within one batch",
      params: runIdParams,
      body: retuneBody,
      handler: async ({ params, body, request }) => {
        const { reason, ...patch } = body as { reason?: string } & Record<string, number | string>;
        return {
          run: summarize(await sluice.retune((params as { id: string }).id, patch, actorOf(request), reason ?? 'retuned through the API')),
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/runs/:id/quarantine',
      scope: 'read',
      tag: 'quarantine',
      responses: { 200: quarantineAnswer },
      errors: [404],
      summary: "The run's quarantined items",
      params: runIdParams,
      query: quarantineQuery,
      handler: async ({ params, query }) => {
        const q = query as { errorClass?: string; status?: 'open' | 'replayed'; limit?: number; afterId?: number };
        const { id } = params as { id: string };
        // An unknown run is a 404, as on every other route of a run, not an empty list.
        if (!(await sluice.store.getRun(id))) throw new ApiError(404, 'not_found', `no run "${id}"`);
        return {
          entries: await sluice.listQuarantine({
            runId: id,
            errorClass: q.errorClass,
            status: q.status ?? 'open',
            limit: q.limit ?? 100,
            afterId: q.afterId,
          }),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/runs/:id/quarantine/replay',
      scope: 'write',
      tag: 'quarantine',
      responses: { 200: replayAnswer },
      errors: [404, 409],
      summary: "Process the run's open quarantine again (all, one class, or some ids)",
      params: runIdParams,
      body: replayBody,
      handler: async ({ params, body, request }) => {
        const b = body as { errorClass?: string; ids?: number[] };
        return sluice.replayQuarantine((params as { id: string }).id, { errorClass: b.errorClass, ids: b.ids, actor: actorOf(request) });
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/cancel-by-key',
      scope: 'admin',
      tag: 'control',
      responses: { 200: cancelledAnswer },
      summary: 'Cancel every open run whose concurrency key has this value',
      body: cancelByKeyBody,
      handler: async ({ body, request }) => {
        const b = body as { name: string; value: string; reason?: string };
        return {
          cancelled: (
            await sluice.cancelByKey(
              { name: b.name, value: b.value },
              actorOf(request),
              b.reason ?? `${b.name}=${b.value} cancelled through the API`,
            )
          ).map((r) => summarize(r)),
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/alerts',
      scope: 'read',
      tag: 'slo',
      responses: { 200: alertsAnswer },
      summary: 'SLO alerts (pending, firing, resolved) with their burn rates',
      query: emptyQuery,
      handler: async () => ({ alerts: await sluice.store.listAlerts() }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/tokens',
      scope: 'admin',
      tag: 'tokens',
      responses: { 200: tokensAnswer },
      summary: 'API tokens (never their secrets)',
      query: emptyQuery,
      handler: async () => ({ tokens: (await sluice.store.listTokens()).map(({ hash: _hash, ...rest }) => rest) }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/tokens',
      scope: 'admin',
      tag: 'tokens',
      status: 201,
      responses: { 201: createdTokenAnswer },
      summary: 'Create a token; its secret is in this answer only',
      body: createTokenBody,
      handler: async ({ body, request }) => {
        const b = body as { name: string; scope: 'read' | 'write' | 'admin' };
        const { token, record } = await createToken(sluice.store, { name: b.name, scope: b.scope, createdBy: actorOf(request) });
        const { hash: _hash, ...rest } = record;
        return { token, ...rest };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/tokens/:id',
      scope: 'admin',
      tag: 'tokens',
      responses: { 200: revokedAnswer },
      errors: [404],
      summary: 'Revoke a token',
      params: tokenIdParams,
      handler: async ({ params }) => {
        const { id } = params as { id: string };
        if (!(await sluice.store.revokeToken(id))) throw new ApiError(404, 'not_found', `no live token "${id}"`);
        hooks.tokenRevoked?.(id);
        return { revoked: id };
      },
    }),
  ];
}
