/**
 * Issue #8's targets for the real backfill, judged on one run's measurements and printed as
 * "target … : met/not met (numbers)" lines after the table.
 */
export interface MeasuredVariant {
  name: string;
  kind: 'loop' | 'sluice' | 'per-batch' | 'per-item';
  concurrency: number;
  items: number;
}

type Result = MeasuredVariant & { itemsPerSecond: number };

const rate = (r: Result) => `${Math.round(r.itemsPerSecond).toLocaleString('en-US')} items/s`;

function best(results: readonly Result[], kind: Result['kind'], filter: (r: Result) => boolean = () => true): Result | undefined {
  return results.filter((r) => r.kind === kind && filter(r)).sort((a, b) => b.itemsPerSecond - a.itemsPerSecond)[0];
}

function line(target: string, ours: Result | undefined, theirs: Result | undefined, factor: number): string {
  if (ours === undefined || theirs === undefined) return `target ${target}: not measured in this run`;
  const ratio = ours.itemsPerSecond / theirs.itemsPerSecond;
  const verdict = ratio >= factor ? 'met' : 'not met';
  return `target ${target}: ${verdict} (${ratio.toFixed(2)}×: ${ours.name} ${rate(ours)} vs ${theirs.name} ${rate(theirs)})`;
}

export function printTargets(results: readonly Result[]): string[] {
  const sluiceAtOne = results.find((r) => r.kind === 'sluice' && r.concurrency === 1);
  const loopAtOne = results.find((r) => r.kind === 'loop' && r.concurrency === 1);
  const sluiceBest = best(results, 'sluice');
  const lines = [
    line('Sluice at concurrency 1 ≥ 0.95× the one-connection loop', sluiceAtOne, loopAtOne, 0.95),
    line('Sluice at its best concurrency ≥ 1.2× the best job-per-batch queue', sluiceBest, best(results, 'per-batch'), 1.2),
    line('Sluice at its best concurrency ≥ 0.95× the best parallel hand-written loop', sluiceBest, best(results, 'loop', (r) => r.concurrency > 1), 0.95),
    ...results.filter((r) => r.kind === 'per-item').map((r) => line(`Sluice at its best concurrency ≥ 40× ${r.name}`, sluiceBest, r, 40)),
  ];
  for (const text of lines) console.log(text);
  console.log('');
  return lines;
}
