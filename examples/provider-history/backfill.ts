import { defineBackfill, httpRateLimit, iterable, IterableReadError } from 'sluice';
import { ENTITY_TYPES, type ProviderItem } from './fake-provider.js';

/**
 * Seed 004: the history of one installation from a provider API, fanned out per entity type, each
 * item delivered to the event gateway under a deterministic delivery id. The permanent ledger makes
 * every re-trigger (after success, after a partial failure, deeper, days later) deliver only what
 * is missing; one run per installation at a time, a duplicate trigger queues behind it.
 */
export function providerHistory(options: { providerUrl: string; gatewayUrl: string }) {
  // Installation tokens, refreshed when the provider answers 401.
  const tokens = new Map<string, string>();
  const rateLimit = httpRateLimit({ name: 'provider', budgetPerHour: 4000 });

  async function token(installationId: string, refresh = false): Promise<string> {
    if (!refresh && tokens.has(installationId)) return tokens.get(installationId)!;
    const response = await fetch(`${options.providerUrl}/app/installations/${installationId}/access_tokens`, { method: 'POST' });
    if (!response.ok) throw new IterableReadError(`could not get a token for installation ${installationId}: HTTP ${response.status}`);
    const { token: value } = (await response.json()) as { token: string };
    tokens.set(installationId, value);
    return value;
  }

  /** One page; a 401 refreshes the token and asks again, a 5xx fails the read (the engine retries it from the checkpoint). */
  async function page(path: string, installationId: string): Promise<{ items: ProviderItem[]; next: string | undefined }> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetch(`${options.providerUrl}${path}`, {
        headers: { authorization: `Bearer ${await token(installationId, attempt > 0)}` },
      });
      rateLimit.observe(response);
      if (response.status === 401) continue;
      if (!response.ok) throw new IterableReadError(`provider answered HTTP ${response.status} for ${path}`);
      const next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
      return { items: (await response.json()) as ProviderItem[], next };
    }
    throw new IterableReadError(`provider refused a fresh token for installation ${installationId}`);
  }

  return defineBackfill<ProviderItem>({
    name: 'provider-history',
    description: "deliver an installation's history (pull requests, issues, releases) to the event gateway",
    source: iterable<ProviderItem>({
      async *from(cursor, { child, params }) {
        const installationId = String(params.installationId);
        // The cursor is the last delivered id: a retry resumes at the page after it.
        let path: string | undefined =
          `/installations/${installationId}/${child}s?since=${encodeURIComponent(String(params.since))}&after=${Number(cursor ?? 0)}`;
        while (path) {
          const { items, next } = await page(path, installationId);
          yield* items;
          path = next;
        }
      },
      cursorOf: (item) => item.id,
    }),
    key: (item) => `${item.installationId}:${item.entityType}:${item.id}`,
    fanOut: { by: 'entityType', children: [...ENTITY_TYPES] },
    concurrencyKeys: { installationId: { runs: 1 } },
    batchSize: 25,
    // A gateway outage quarantines that entity type's items; the run goes on with the others.
    maxFailureRatio: 1,
    retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 200 },
    throttle: { signals: [rateLimit] },
    async process(items, ctx) {
      for (const item of items) {
        const response = await fetch(options.gatewayUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            deliveryId: ctx.idempotencyKey(item),
            entityType: item.entityType,
            installationId: item.installationId,
            id: item.id,
            title: item.title,
          }),
        });
        if (!response.ok) throw new Error(`gateway answered HTTP ${response.status}`);
      }
    },
  });
}
