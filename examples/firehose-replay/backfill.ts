import { defineBackfill, iterable, IterableReadError } from 'sluice';
import type { FirehoseEvent } from './firehose.js';

/**
 * Seed 002: replay the last N days of a firehose into per-user activity counters. Gentle by
 * default (the `background` profile: small batches, a pause between them, one lane) under a
 * memory limit; the permanent ledger skips events the stream sends twice, and the counters are
 * written in the checkpoint's transaction, so a replay killed and restarted counts each event once.
 */
export function firehoseReplay(firehoseUrl: string) {
  return defineBackfill<FirehoseEvent>({
    name: 'firehose-replay',
    description: 'count the last N days of firehose events per user',
    source: iterable<FirehoseEvent>({
      async *from(cursor, { params }) {
        let after = Number(cursor ?? 0);
        for (;;) {
          const response = await fetch(`${firehoseUrl}/events?since=${encodeURIComponent(String(params.since))}&after=${after}&limit=500`);
          if (!response.ok) throw new IterableReadError(`firehose answered HTTP ${response.status}`);
          const text = await response.text();
          if (text.length === 0) return;
          const page = text.split('\n').map((line) => JSON.parse(line) as FirehoseEvent);
          yield* page;
          after = page[page.length - 1]!.seq;
        }
      },
      cursorOf: (event) => event.seq,
    }),
    key: (event) => event.eventId,
    delivery: 'transactional',
    dedup: true,
    throttle: { profile: 'background', maxMemoryMb: 1024 },
    async process(events, ctx) {
      await ctx.tx!.executeMany(
        `INSERT INTO user_activity (user_id, events, purchases) VALUES (?, 1, ?)
          ON CONFLICT (user_id) DO UPDATE SET events = user_activity.events + 1, purchases = user_activity.purchases + excluded.purchases`,
        events.map((e) => [e.userId, e.type === 'purchase' ? 1 : 0]),
      );
    },
  });
}
