/** One line of a benchmark table: ratio is throughput relative to the baseline (higher is better). */
export interface BenchResult {
  name: string;
  medianMs: number;
  itemsPerSecond: number;
  ratio: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Measures a baseline and a variant over the same `items`, interleaved so that drift of the machine
 * hits both equally, after one warm-up of each; returns both rows, the variant's ratio against the
 * baseline's median.
 */
export async function interleaved(
  runs: number,
  items: number,
  baseline: { name: string; measure: () => number | Promise<number> },
  variant: { name: string; measure: () => number | Promise<number> },
): Promise<BenchResult[]> {
  await baseline.measure();
  await variant.measure();
  const base: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    base.push(await baseline.measure());
    ours.push(await variant.measure());
  }
  const b = median(base);
  const v = median(ours);
  return [
    { name: baseline.name, medianMs: b, itemsPerSecond: items / (b / 1000), ratio: 1 },
    { name: variant.name, medianMs: v, itemsPerSecond: items / (v / 1000), ratio: b / v },
  ];
}

/** Prints a Markdown table (so that it can be pasted into BENCHMARKS.md as it is). */
export function printTable(title: string, results: readonly BenchResult[]): string {
  const lines = [
    `### ${title}`,
    '',
    '| variant | median time | items/s | ratio vs baseline |',
    '| --- | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${(r.medianMs / 1000).toFixed(2)} s | ${Math.round(r.itemsPerSecond).toLocaleString('en-US')} | ${r.ratio.toFixed(2)}× |`,
    ),
    '',
  ];
  const text = lines.join('\n');
  console.log(text);
  return text;
}

/**
 * One target's verdict the way every benchmark states it: `target <what>: met (<value>)` or
 * `not met (<value>)`, `met` being the benchmark's own judgement of its measurement against the
 * target; without a verdict, `not measured in this run`.
 */
export function targetLine(what: string, verdict?: { met: boolean; value: string }): string {
  if (!verdict) return `target ${what}: not measured in this run`;
  return `target ${what}: ${verdict.met ? 'met' : 'not met'} (${verdict.value})`;
}

export function printTarget(what: string, met: boolean, value: string): void {
  console.log(targetLine(what, { met, value }));
}
