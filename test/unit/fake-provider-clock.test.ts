import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENTITY_TYPES, startFakeProvider } from '../../examples/provider-history/fake-provider.js';

const DAY = 86_400_000;

/** Items the provider lists for one entity type since `since`, following its `Link` pages. */
async function listSince(url: string, entityType: string, since: number): Promise<number> {
  const { token } = (await (await fetch(`${url}/app/installations/42/access_tokens`, { method: 'POST' })).json()) as { token: string };
  let path: string | undefined = `/installations/42/${entityType}s?since=${encodeURIComponent(new Date(since).toISOString())}`;
  let count = 0;
  while (path) {
    const response: Response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 500) continue; // the provider's occasional failure: ask again
    count += ((await response.json()) as unknown[]).length;
    path = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
  }
  return count;
}

describe("the provider-history example's fake provider", () => {
  // The seed-004 example failed every morning: its items fell on the calendar day's 00:00 and
  // 12:00 UTC, so a window of 7 days back from "now" held one item more before noon.
  for (const at of ['2026-03-01T00:30:00Z', '2026-03-01T11:59:00Z', '2026-03-01T12:00:00Z', '2026-03-01T23:59:59.999Z']) {
    it(`holds exactly perDay items a day in a window of whole days back from now, at ${at}`, async () => {
      const provider = await startFakeProvider({ start: Date.parse(at), failEvery: 1_000_000, tokenUses: 1_000 });
      try {
        for (const days of [7, 30]) {
          for (const type of ENTITY_TYPES)
            assert.equal(await listSince(provider.url, type, provider.now() - days * DAY), 2 * days, `${type}, ${days} days`);
        }
        provider.shift(10 * DAY);
        assert.equal(await listSince(provider.url, 'issue', provider.now() - 90 * DAY), 180, 'ten days later, 90 days back');
      } finally {
        await provider.close();
      }
    });
  }
});
