/**
 * The targets for the real backfill (issues 8 and 20), judged on one run's measurements and printed
 * as "target … : met/not met (numbers)" lines after the table, grouped by guarantee: Sluice
 * transactional (exactly once) against the hand-written loop, Sluice idempotent (at least once)
 * against the job queues.
 */
import { targetLine } from './report.js';
import { rowWidth } from './row-width.js';

export interface MeasuredVariant {
  name: string;
  /** `sluice`: transactional; `sluice-sync`: transactional, synchronous commit; `sluice-idempotent`: coalesced checkpoints. */
  kind: 'loop' | 'sluice' | 'sluice-sync' | 'sluice-idempotent' | 'per-batch' | 'per-item';
  concurrency: number;
  items: number;
}

type Result = MeasuredVariant & { itemsPerSecond: number };

const rate = (r: Result) => `${Math.round(r.itemsPerSecond).toLocaleString('en-US')} items/s`;

function best(results: readonly Result[], kind: Result['kind'], filter: (r: Result) => boolean = () => true): Result | undefined {
  return results.filter((r) => r.kind === kind && filter(r)).sort((a, b) => b.itemsPerSecond - a.itemsPerSecond)[0];
}

function line(target: string, ours: Result | undefined, theirs: Result | undefined, factor: number): string {
  if (ours === undefined || theirs === undefined) return targetLine(target);
  const ratio = ours.itemsPerSecond / theirs.itemsPerSecond;
  return targetLine(target, {
    met: ratio >= factor,
    value: `${ratio.toFixed(2)}×: ${ours.name} ${rate(ours)} vs ${theirs.name} ${rate(theirs)}`,
  });
}

/** `bodyBytes` > 0 (wide rows): every target is named "… on wide rows (a N-byte text column)", the row width it was measured on. */
export function printTargets(results: readonly Result[], bodyBytes = 0): string[] {
  const sluiceAtOne = results.find((r) => r.kind === 'sluice' && r.concurrency === 1);
  const loopAtOne = results.find((r) => r.kind === 'loop' && r.concurrency === 1);
  const sluiceBest = best(results, 'sluice');
  const idempotentBest = best(results, 'sluice-idempotent');
  const syncBest = best(results, 'sluice-sync');
  const width = bodyBytes > 0 ? ` on ${rowWidth(bodyBytes)}` : '';
  const target = (name: string, ours: Result | undefined, theirs: Result | undefined, factor: number) =>
    line(`${name}${width}`, ours, theirs, factor);
  const fastest = [sluiceBest, idempotentBest].filter((r) => r !== undefined).sort((a, b) => b.itemsPerSecond - a.itemsPerSecond)[0];
  const lines = [
    // Exactly once: the transactional mode against the loop that commits its checkpoint with each batch.
    target('transactional at concurrency 1 ≥ 0.95× the one-connection loop', sluiceAtOne, loopAtOne, 0.95),
    target(
      'transactional at its best concurrency ≥ 1.0× the best parallel hand-written loop',
      sluiceBest,
      best(results, 'loop', (r) => r.concurrency > 1),
      1.0,
    ),
    // At least once: the idempotent mode against the queues, which deliver at least once too.
    target('idempotent at its best concurrency ≥ 1.2× the best job-per-batch queue', idempotentBest, best(results, 'per-batch'), 1.2),
    ...results.filter((r) => r.kind === 'per-item').map((r) => target(`Sluice at its best ≥ 40× ${r.name}`, fastest, r, 40)),
  ];
  // Not a target: what asynchronous commit of the batch transactions changes (measured with --sync-commit).
  if (syncBest && sluiceBest) {
    lines.push(
      `asynchronous commit: ${(sluiceBest.itemsPerSecond / syncBest.itemsPerSecond).toFixed(2)}× (${sluiceBest.name} ${rate(sluiceBest)} vs ${syncBest.name} ${rate(syncBest)})`,
    );
  }
  for (const text of lines) console.log(text);
  console.log('');
  return lines;
}
