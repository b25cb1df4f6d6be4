// Seed 004 end to end: `npx tsx examples/provider-history/run.ts [--db postgres://…]`. Starts a
// local GitHub-style provider and an event gateway, then triggers the history of installation 42
// the way the seed's product does, and prints after every step what the gateway received:
//   1. depth 7 days; 2. the same again (after success); 3. depth 30 while the gateway refuses
//   releases (a partial failure); 4. depth 30 again once it recovers; 5. ten days later, depth 90;
//   6. the connection is deleted while a run executes: its run is cancelled.
import { systemClock, type Clock } from 'sluice';
import { flags, openExample, report } from '../shared/example.js';
import { providerHistory } from './backfill.js';
import { startFakeProvider, startGateway } from './fake-provider.js';

const DAY = 86_400_000;
const args = flags({}, 'run.ts [--db FILE|postgres://…]');
const provider = await startFakeProvider();
const gateway = await startGateway();
// Sluice's clock follows the provider's, so that "ten days later" is ten days later for both.
const clock: Clock = { ...systemClock, now: () => provider.now() };
const example = await openExample(
  args.db as string | undefined,
  '.sluice/provider-history.db',
  [providerHistory({ providerUrl: provider.url, gatewayUrl: gateway.url })],
  clock,
);
const installationId = '42';
let delivered = 0;

async function trigger(step: string, depthDays: number): Promise<void> {
  const since = new Date(provider.now() - depthDays * DAY).toISOString();
  const outcome = await (await example.sluice.start('provider-history', { newRun: true, params: { installationId, since, depthDays } }))
    .done;
  const status = await example.sluice.status(outcome.runId);
  const unique = gateway.deliveries.size;
  report('step', {
    step,
    depthDays,
    state: outcome.state,
    counts: outcome.counts,
    children: status.children?.map((c) => ({
      child: c.child,
      outcome: c.outcome,
      success: c.counts.processed,
      error: c.counts.quarantined,
      skipped: c.counts.skipped,
    })),
    newDeliveries: unique - delivered,
    deliveries: unique,
    duplicates: gateway.duplicates(),
  });
  delivered = unique;
}

try {
  await trigger('first trigger', 7);
  await trigger('re-trigger after success', 7);
  gateway.failing.add('release');
  await trigger('deeper, while the gateway refuses releases', 30);
  gateway.failing.clear();
  await trigger('re-trigger after the partial failure', 30);
  provider.shift(10 * DAY);
  await trigger('ten days later, depth 90', 90);

  // The connection is deleted while its run executes (a slow gateway keeps it executing): everything for the installation is cancelled.
  gateway.delayMs = 20;
  const since = new Date(provider.now() - 120 * DAY).toISOString();
  const handle = await example.sluice.start('provider-history', { newRun: true, params: { installationId, since, depthDays: 120 } });
  await new Promise<void>((resolve) => handle.on('batch', () => resolve()));
  const cancelled = await example.sluice.cancelByKey(
    { name: 'installationId', value: installationId },
    'connection-deleted',
    'installation 42 was disconnected',
  );
  const outcome = await handle.done;
  report('deleted', { cancelled: cancelled.map((r) => r.id), state: outcome.state, duplicates: gateway.duplicates() });
  report('provider', { ...provider.stats });
  process.exitCode = gateway.duplicates() === 0 ? 0 : 1;
} finally {
  await example.close();
  await provider.close();
  await gateway.close();
}
