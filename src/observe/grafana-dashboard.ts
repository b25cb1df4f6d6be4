import { formatDuration } from '../core/slo/duration.js';
import { ratioRecord, type SloOwner } from './slo-rules.js';

interface Target {
  expr: string;
  legendFormat: string;
  refId: string;
}
interface Panel {
  id: number;
  type: 'timeseries' | 'stat' | 'state-timeline';
  title: string;
  description: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: 'prometheus'; uid: '${datasource}' };
  targets: Target[];
  fieldConfig: { defaults: { unit?: string; min?: number; max?: number }; overrides: [] };
  options?: Record<string, unknown>;
}

/** Every PromQL expression of a dashboard (for checking them against a real Prometheus). */
export function dashboardExpressions(dashboard: { panels: Panel[] }): string[] {
  return dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
}

/**
 * A Grafana dashboard for Sluice (schema 39, importable as JSON): throughput, p50/p95 batch
 * duration, error ratio, backlog and ETA, throttle state and reasons, and, for the SLOs of the
 * given backfills, their burn rates and error budget left (from the recording rules of
 * `sluice slo rules`). `$backfill` selects backfills; `$datasource` the Prometheus.
 */
export function grafanaDashboard(definitions: readonly SloOwner[]) {
  const panels: Panel[] = [];
  const b = 'backfill=~"$backfill"';
  let x = 0;
  let y = 0;
  const add = (
    title: string,
    description: string,
    targets: Array<[string, string]>,
    options: { unit?: string; type?: Panel['type']; w?: number; min?: number; max?: number } = {},
  ) => {
    const w = options.w ?? 12;
    if (x + w > 24) {
      x = 0;
      y += 8;
    }
    panels.push({
      id: panels.length + 1,
      type: options.type ?? 'timeseries',
      title,
      description,
      gridPos: { x, y, w, h: 8 },
      datasource: { type: 'prometheus', uid: '${datasource}' },
      targets: targets.map(([expr, legendFormat], i) => ({ expr, legendFormat, refId: String.fromCharCode(65 + i) })),
      fieldConfig: {
        defaults: {
          ...(options.unit ? { unit: options.unit } : {}),
          ...(options.min !== undefined ? { min: options.min } : {}),
          ...(options.max !== undefined ? { max: options.max } : {}),
        },
        overrides: [],
      },
    });
    x += w;
  };

  add(
    'Throughput',
    'Items per second by outcome.',
    [[`sum by (backfill, outcome) (rate(sluice_items_total{${b}}[5m]))`, '{{backfill}} {{outcome}}']],
    { unit: 'ops' },
  );
  add(
    'Batch duration p50 / p95',
    'From reading a batch to its committed checkpoint.',
    [
      [`histogram_quantile(0.5, sum by (backfill, le) (rate(sluice_batch_duration_seconds_bucket{${b}}[5m])))`, '{{backfill}} p50'],
      [`histogram_quantile(0.95, sum by (backfill, le) (rate(sluice_batch_duration_seconds_bucket{${b}}[5m])))`, '{{backfill}} p95'],
    ],
    { unit: 's' },
  );
  add(
    'Error ratio',
    'Quarantined items over items handled.',
    [
      [
        `sum by (backfill) (rate(sluice_items_total{${b},outcome="quarantined"}[5m])) / sum by (backfill) (rate(sluice_items_total{${b},outcome=~"processed|skipped|quarantined"}[5m]))`,
        '{{backfill}}',
      ],
    ],
    { unit: 'percentunit', min: 0 },
  );
  add('Backlog and ETA', 'Items left to receive (an estimate from the plan) and seconds to go at the current rate.', [
    [`sum by (backfill) (sluice_backlog_items{${b}})`, '{{backfill}} backlog'],
    [`max by (backfill) (sluice_eta_seconds{${b}})`, '{{backfill}} ETA (s)'],
  ]);
  add(
    'Throttle state and reason',
    '1 while the throttle is in this state, with its source (a signal or guard).',
    [[`max by (backfill, state, source) (sluice_throttle_state{${b}}) == 1`, '{{backfill}} {{state}} ({{source}})']],
    { type: 'state-timeline' },
  );
  add(
    'Oldest pending partition',
    'Age of the oldest partition waiting for a worker: workers are missing or saturated when it grows.',
    [[`max by (backfill) (sluice_oldest_pending_partition_age_seconds{${b}})`, '{{backfill}}']],
    { unit: 's' },
  );

  for (const definition of definitions) {
    for (const slo of definition.slo?.objectives ?? []) {
      const select = `backfill="${definition.name}",slo="${slo.name}"`;
      const windows = [...new Set(slo.tiers.flatMap((t) => [t.longWindowMs, ...(t.shortWindowMs === undefined ? [] : [t.shortWindowMs])]))]
        .sort((a, b) => a - b)
        .map(formatDuration);
      add(
        `${definition.name} · ${slo.name}: burn rate`,
        `How many times faster than sustainable the error budget of ${slo.name} (${slo.objective * 100} %) burns, per window. Tiers fire at ${slo.tiers.map((t) => `${t.burnRate}×`).join(', ')}.`,
        windows.map((w) => [`${ratioRecord(w)}{${select}} / ${1 - slo.objective}`, `${w}`]),
        { min: 0 },
      );
      add(
        `${definition.name} · ${slo.name}: error budget left`,
        `Of the ${formatDuration(slo.periodMs)} period.`,
        [[`sluice:slo_error_budget_remaining:ratio{${select}}`, 'budget left']],
        { unit: 'percentunit', type: 'stat', w: 6, max: 1 },
      );
      add(
        `${definition.name} · ${slo.name}: alerts firing`,
        "Alerts as Sluice's in-process evaluator has them (1 = firing).",
        [[`max by (tier, severity) (sluice_slo_alert_firing{${select}})`, '{{tier}} ({{severity}})']],
        { type: 'stat', w: 6 },
      );
    }
  }

  return {
    title: 'Sluice backfills',
    uid: 'sluice-backfills',
    description: 'Generated by `sluice slo dashboard`.',
    tags: ['sluice', 'backfill', 'slo'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' },
        {
          name: 'backfill',
          type: 'query',
          label: 'Backfill',
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(sluice_items_total, backfill)', refId: 'backfills' },
          definition: 'label_values(sluice_items_total, backfill)',
          includeAll: true,
          multi: true,
          allValue: '.+',
          refresh: 2,
        },
      ],
    },
    panels,
  };
}
