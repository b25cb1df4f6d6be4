import { defineBackfill, iterable, PermanentError } from 'sluice';

/** The degradation the example plays: how slow a full batch is, and what share of items fails (a block of ids in every hundred). */
export interface Degradation {
  batchDelayMs: number;
  failPercent: number;
}

/**
 * Seed 003's alerts for a backfill: latency (a batch over 300 ms is bad; 99 % must be good) and
 * errors (1 % budget), each with a fast burn (14.4× over 5 minutes, page) and a slow burn (3.6× over
 * 1 hour, ticket), exactly the tiers of the seed's runbook.
 */
export function sloAlertsBackfill(items: number, degradation: Degradation) {
  const tiers = [
    { name: 'fast-burn', severity: 'page' as const, burnRate: 14.4, longWindow: '5m' },
    { name: 'slow-burn', severity: 'ticket' as const, burnRate: 3.6, longWindow: '1h' },
  ];
  return defineBackfill<{ id: number }>({
    name: 'slo-alerts',
    description: 'a backfill whose latency and errors are watched by burn-rate alerts',
    source: iterable({
      from: (c) => Array.from({ length: Math.max(0, items - Number(c ?? 0)) }, (_, i) => ({ id: Number(c ?? 0) + i + 1 })),
      cursorOf: (i) => i.id,
      count: () => items,
    }),
    key: (i) => i.id,
    batchSize: 20,
    maxFailureRatio: 1,
    retry: { attempts: 1 },
    slo: {
      objectives: [
        {
          name: 'latency',
          description: 'batches under 300 ms',
          sli: { kind: 'batch-duration', thresholdSeconds: 0.3 },
          objective: 0.99,
          tiers,
        },
        { name: 'errors', description: 'at most 1 % of items fail', sli: { kind: 'error-ratio' }, objective: 0.99, tiers },
      ],
    },
    async process(batch) {
      // A slow dependency: every full batch waits (the smaller retries that isolate failures do not).
      if (degradation.batchDelayMs > 0 && batch.length >= 10) await new Promise((resolve) => setTimeout(resolve, degradation.batchDelayMs));
      const bad = batch.find((i) => (i.id - 1) % 100 < degradation.failPercent);
      if (bad) throw new PermanentError(`item ${bad.id}: upstream 503`);
    },
  });
}
