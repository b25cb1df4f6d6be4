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

/** Prints a Markdown table (so that it can be pasted into BENCHMARKS.md as it is). */
export function printTable(title: string, results: readonly BenchResult[]): string {
  const lines = [
    `### ${title}`,
    '',
    '| variant | median time | items/s | ratio vs baseline |',
    '| --- | ---: | ---: | ---: |',
    ...results.map((r) => `| ${r.name} | ${(r.medianMs / 1000).toFixed(2)} s | ${Math.round(r.itemsPerSecond).toLocaleString('en-US')} | ${r.ratio.toFixed(2)}× |`),
    '',
  ];
  const text = lines.join('\n');
  console.log(text);
  return text;
}
