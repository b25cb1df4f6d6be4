/**
 * The trade-off curve's verdicts and tables (bench/foreground-tradeoff.ts), from measured phases:
 * per budget, each fixed throttle tuned to its fastest setting within the budget, Sluice's ratio
 * against the best of them, and whether the target (≥ 2× with Sluice itself within the budget) is met.
 */
import type { BackfillVariant } from './foreground-phase.js';
import { median, targetLine } from './report.js';

export interface Contender {
  group: 'unthrottled' | 'sluice' | 'seed 002' | 'pt-osc';
  /** The knob's setting, in words. */
  setting: string;
  /** Sluice's budget as a multiple of the idle p95. */
  factor?: number;
  variant: BackfillVariant;
}

export interface ContenderResult {
  contender: Contender;
  /** The median of its phases' p95s (ms). */
  p95: number;
  phaseP95s: number[];
  itemsPerSecond: number;
}

/** The target: at every budget, Sluice ≥ this many times the best fixed throttle with the same p95. */
export const TARGET_RATIO = 2;

const FIXED_GROUPS = ['seed 002', 'pt-osc'] as const;

/** The fastest of `results` whose p95 is at most `limitMs`, if any. */
export function fastestWithin(results: readonly ContenderResult[], limitMs: number): ContenderResult | undefined {
  return results.filter((r) => r.p95 <= limitMs).sort((a, b) => b.itemsPerSecond - a.itemsPerSecond)[0];
}

export interface BudgetVerdict {
  factor: number;
  limitMs: number;
  sluice: ContenderResult;
  /** Each fixed throttle's tuned setting at this budget (undefined: none of its settings was within it). */
  tuned: Record<(typeof FIXED_GROUPS)[number], ContenderResult | undefined>;
  best: ContenderResult | undefined;
  /** Sluice's throughput over the best fixed throttle's (Infinity when none was within the budget). */
  ratio: number;
  /** The same against the best fixed setting whose p95 is at most Sluice's own measured p95. */
  ratioAtSluiceP95: number;
  sluiceWithin: boolean;
  met: boolean;
}

export function judge(results: readonly ContenderResult[], idleP95: number, factor: number): BudgetVerdict | undefined {
  const sluice = results.find((r) => r.contender.group === 'sluice' && r.contender.factor === factor);
  if (!sluice) return undefined;
  const limitMs = factor * idleP95;
  const fixed = results.filter((r) => (FIXED_GROUPS as readonly string[]).includes(r.contender.group));
  const tuned = {
    'seed 002': fastestWithin(
      fixed.filter((r) => r.contender.group === 'seed 002'),
      limitMs,
    ),
    'pt-osc': fastestWithin(
      fixed.filter((r) => r.contender.group === 'pt-osc'),
      limitMs,
    ),
  };
  const best = fastestWithin(fixed, limitMs);
  const atOwn = fastestWithin(fixed, sluice.p95);
  // No fixed setting within the budget: any progress at all beats them, none does not.
  const over = (other: ContenderResult | undefined) =>
    other ? sluice.itemsPerSecond / other.itemsPerSecond : sluice.itemsPerSecond > 0 ? Infinity : 0;
  const sluiceWithin = sluice.p95 <= limitMs;
  const ratio = over(best);
  return {
    factor,
    limitMs,
    sluice,
    tuned,
    best,
    ratio,
    ratioAtSluiceP95: over(atOwn),
    sluiceWithin,
    met: sluiceWithin && ratio >= TARGET_RATIO,
  };
}

const rate = (r: ContenderResult) => Math.round(r.itemsPerSecond).toLocaleString('en-US');
const times = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '∞ (no fixed setting within)');

export function printCurve(input: {
  idlePhaseP95s: readonly number[];
  budgets: readonly number[];
  results: readonly ContenderResult[];
}): string[] {
  const idleP95 = median(input.idlePhaseP95s);
  const unthrottled = input.results.find((r) => r.contender.group === 'unthrottled');
  const vsIdle = (r: ContenderResult) => `${(r.p95 / idleP95).toFixed(2)}×`;
  const lines = [
    '| contender | setting | foreground p95 (median of phases) | p95 vs idle | backfill items/s | vs unthrottled |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    `| idle | foreground alone, ${input.idlePhaseP95s.length} phases | ${idleP95.toFixed(1)} ms | 1.00× | — | — |`,
    ...input.results.map(
      (r) =>
        `| ${r.contender.group} | ${r.contender.setting} | ${r.p95.toFixed(1)} ms (${r.phaseP95s.map((v) => v.toFixed(1)).join(', ')}) | ${vsIdle(r)} | ${rate(r)} | ${unthrottled ? `${(r.itemsPerSecond / unthrottled.itemsPerSecond).toFixed(2)}×` : '—'} |`,
    ),
    '',
    `idle p95 of each idle phase, in order: ${input.idlePhaseP95s.map((v) => v.toFixed(1)).join(', ')} ms.`,
    '',
    "| budget | Sluice | seed 002 tuned | pt-osc tuned | Sluice vs the best fixed within the budget | vs the best fixed at Sluice's p95 | met? |",
    '| --- | --- | --- | --- | ---: | ---: | --- |',
  ];
  const tunedCell = (r: ContenderResult | undefined) =>
    r ? `${r.contender.setting}: ${rate(r)} items/s, p95 ${vsIdle(r)}` : 'no setting within';
  const verdicts = input.budgets.map((factor) => judge(input.results, idleP95, factor)).filter((v) => v !== undefined);
  for (const v of verdicts) {
    lines.push(
      `| ${v.factor}× idle (${v.limitMs.toFixed(1)} ms) | ${rate(v.sluice)} items/s, p95 ${vsIdle(v.sluice)}${v.sluiceWithin ? '' : ' (over budget)'} | ${tunedCell(v.tuned['seed 002'])} | ${tunedCell(v.tuned['pt-osc'])} | ${times(v.ratio)} | ${times(v.ratioAtSluiceP95)} | ${v.met ? 'met' : 'not met'} |`,
    );
  }
  lines.push('');
  for (const v of verdicts) {
    const why = !v.sluiceWithin
      ? `Sluice's p95 ${v.sluice.p95.toFixed(1)} ms is over the budget ${v.limitMs.toFixed(1)} ms`
      : `${times(v.ratio)} the best fixed throttle${v.best ? ` (${v.best.contender.group}, ${v.best.contender.setting})` : ''}`;
    lines.push(
      targetLine(`foreground at ${v.factor}× idle p95: Sluice ≥ ${TARGET_RATIO}× the best fixed throttle within the same p95`, {
        met: v.met,
        value: why,
      }),
    );
  }
  for (const line of lines) console.log(line);
  return lines;
}
