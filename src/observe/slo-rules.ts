import { stringify } from 'yaml';
import type { BackfillDefinition } from '../core/definition.js';
import { formatDuration } from '../core/slo/duration.js';
import { errorBudget, type Slo, type Tier } from '../core/slo/slo.js';

/** What the generators need of a definition: its name and SLOs. */
export type SloOwner = Pick<BackfillDefinition<unknown>, 'name' | 'slo'>;

/** A Prometheus rule file: groups of recording and alerting rules. */
export interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

export type Rule =
  | { record: string; expr: string; labels: Record<string, string> }
  | { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> };

/** The recording rule holding an objective's bad-event ratio over `window`. */
export function ratioRecord(window: string): string {
  return `sluice:slo_bad_ratio:rate${window}`;
}

/** `SluiceSloFastBurn` style names: the tier's name in CamelCase under the objective's. */
export function alertName(slo: Slo, tier: Tier): string {
  const camel = (s: string) =>
    s
      .split(/[-_]/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('');
  return `Sluice${camel(slo.name)}${camel(tier.name)}`;
}

/** PromQL string literal (label values come from validated names, but quote them properly anyway). */
function quote(value: string): string {
  return JSON.stringify(value);
}

/**
 * The bad fraction of an objective's events over `window`, from the metrics Sluice exports:
 * batches slower than the threshold (from the histogram's `le` bucket) or quarantined items.
 * `le` matches both `300` and `300.0`, the spellings of Prometheus 2 and 3.
 */
export function badRatioExpr(backfill: string, slo: Slo, window: string): string {
  const b = `backfill=${quote(backfill)}`;
  if (slo.sli.kind === 'batch-duration') {
    const le = String(slo.sli.thresholdSeconds).replace('.', '\\\\.');
    const total = `sum by (backfill) (rate(sluice_batch_duration_seconds_count{${b}}[${window}]))`;
    const good = `sum by (backfill) (rate(sluice_batch_duration_seconds_bucket{${b},le=~"${le}(\\\\.0)?"}[${window}]))`;
    return `(${total} - ${good}) / ${total}`;
  }
  const bad = `sum by (backfill) (rate(sluice_items_total{${b},outcome="quarantined"}[${window}]))`;
  const total = `sum by (backfill) (rate(sluice_items_total{${b},outcome=~"processed|skipped|quarantined"}[${window}]))`;
  return `${bad} / ${total}`;
}

/**
 * Recording and alerting rules for every objective of the given backfills: one bad-ratio series
 * per window the tiers read (and the budget period, for the error budget left), and one alert per
 * tier whose windows all burn at the tier's rate: the same conditions Sluice's own evaluator uses.
 */
export function sloRules(definitions: readonly SloOwner[]): RuleFile {
  const groups: RuleFile['groups'] = [];
  for (const definition of definitions) {
    if (!definition.slo) continue;
    const rules: Rule[] = [];
    for (const slo of definition.slo.objectives) {
      const labels = { backfill: definition.name, slo: slo.name };
      const windows = new Set<string>();
      for (const tier of slo.tiers) {
        windows.add(formatDuration(tier.longWindowMs));
        if (tier.shortWindowMs !== undefined) windows.add(formatDuration(tier.shortWindowMs));
      }
      const period = formatDuration(slo.periodMs);
      windows.add(period);
      for (const window of windows) rules.push({ record: ratioRecord(window), expr: badRatioExpr(definition.name, slo, window), labels });
      const budget = errorBudget(slo);
      rules.push({
        record: 'sluice:slo_error_budget_remaining:ratio',
        expr: `1 - (${ratioRecord(period)}{backfill=${quote(definition.name)},slo=${quote(slo.name)}} / ${round(budget)})`,
        labels,
      });
      for (const tier of slo.tiers) {
        const threshold = round(tier.burnRate * budget);
        const select = `{backfill=${quote(definition.name)},slo=${quote(slo.name)}}`;
        const long = `${ratioRecord(formatDuration(tier.longWindowMs))}${select} >= ${threshold}`;
        const expr =
          tier.shortWindowMs === undefined
            ? long
            : `${long}\nand\n${ratioRecord(formatDuration(tier.shortWindowMs))}${select} >= ${threshold}`;
        const windowsText =
          tier.shortWindowMs === undefined
            ? formatDuration(tier.longWindowMs)
            : `${formatDuration(tier.longWindowMs)} and ${formatDuration(tier.shortWindowMs)}`;
        const what = slo.sli.kind === 'batch-duration' ? `batches slower than ${slo.sli.thresholdSeconds} s` : 'quarantined items';
        rules.push({
          alert: alertName(slo, tier),
          expr,
          ...(tier.forMs > 0 ? { for: formatDuration(tier.forMs) } : {}),
          labels: { severity: tier.severity, backfill: definition.name, slo: slo.name, tier: tier.name },
          annotations: {
            summary: `Backfill ${definition.name}: ${slo.name} error budget burning at ≥ ${tier.burnRate}× (${tier.name})`,
            description: `${what} exceed ${tier.burnRate}× the ${round(budget * 100)} % budget of objective ${slo.name} (${round(slo.objective * 100)} %) over ${windowsText}. Check \`sluice status\` for the run and its throttle decisions; \`sluice pause <run>\` stops it at the next batch.`,
          },
        });
      }
    }
    groups.push({ name: `sluice-slo-${definition.name}`, rules });
  }
  return { groups };
}

/** The rule file as YAML, with a header saying where it came from. */
export function sloRulesYaml(definitions: readonly SloOwner[]): string {
  return `# Generated by \`sluice slo rules\`: Prometheus recording and alerting rules for Sluice's SLOs.\n# Regenerate after changing an objective; check with \`promtool check rules\`.\n${stringify(sloRules(definitions), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

function round(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}
