import type { RunReport } from './run-report.js';

/** One table of a report: the Markdown and HTML renderings are made from the same sections. */
export interface ReportSection {
  title: string;
  header: string[];
  rows: unknown[][];
  /** A line under the table. */
  note?: string;
}

export function reportSections(report: RunReport): ReportSection[] {
  const { run, counts, batches } = report;
  const d = batches.durationMs;
  const sections: ReportSection[] = [
    {
      title: 'Summary',
      header: ['field', 'value'],
      rows: [
        ['state', `${run.state}${run.reason ? ` (${run.reason})` : ''}`],
        ['started by', run.createdBy],
        ['created', run.createdAt],
        ['started', run.startedAt ?? '—'],
        ['finished', run.finishedAt ?? '—'],
        ['elapsed', run.elapsedSeconds === null ? '—' : `${run.elapsedSeconds.toFixed(1)} s`],
        ['planned items', report.plannedItems ?? 'unknown'],
        [
          'keys',
          Object.entries(run.keys)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || '—',
        ],
      ],
    },
    {
      title: 'Counts',
      header: ['received', 'processed', 'skipped', 'failed', 'quarantined', 'batches', 'partitions'],
      rows: [
        [
          counts.received,
          counts.processed,
          counts.skipped,
          counts.failed,
          counts.quarantined,
          batches.count,
          `${report.partitions.total} (${Object.entries(report.partitions.byState)
            .map(([s, n]) => `${n} ${s}`)
            .join(', ')})`,
        ],
      ],
    },
    {
      title: 'Batch durations',
      header: ['p50', 'p90', 'p95', 'p99', 'max', 'items/s of batch time'],
      rows: d
        ? [[`${d.p50} ms`, `${d.p90} ms`, `${d.p95} ms`, `${d.p99} ms`, `${d.max} ms`, batches.itemsPerSecond?.toFixed(1) ?? '—']]
        : [],
    },
    { title: 'Workers', header: ['worker', 'batches', 'items'], rows: batches.byWorker.map((w) => [w.worker, w.batches, w.items]) },
  ];
  if (report.children) {
    sections.push({
      title: 'Children',
      header: ['child', 'outcome', 'success', 'error', 'skipped'],
      rows: report.children.map((c) => [c.child, c.outcome, c.counts.processed, c.counts.quarantined, c.counts.skipped]),
    });
  }
  sections.push(
    {
      title: 'State history',
      header: ['at', 'from', 'to', 'actor', 'reason'],
      rows: report.history.map((t) => [t.at, t.from ?? '∅', t.to, t.actor, t.reason]),
    },
    {
      title: 'Errors by class',
      header: ['class', 'quarantined', 'open', 'replayed', 'retried attempts', 'samples (key: message)'],
      rows: report.errors.map((e) => [
        e.errorClass,
        e.count,
        e.open,
        e.replayed,
        e.retried,
        e.samples.map((s) => `${s.itemKey}: ${s.message}`).join('; '),
      ]),
      note: `Quarantine: ${report.quarantine.open} open, ${report.quarantine.replayed} replayed. Retried attempts: calls of process that failed with the class and were tried again (transient where the retry succeeded).`,
    },
    {
      title: 'Throttle history',
      header: ['at', 'decision', 'reason', 'worker'],
      rows: report.throttle.map((t) => [t.at, t.kind, t.reason, t.worker]),
    },
    {
      title: 'SLO alerts during the run',
      header: ['at', 'alert', 'severity', 'change', 'summary'],
      rows: report.alerts.map((a) => [a.at, `${a.slo}/${a.tier}`, a.severity, `${a.from} → ${a.to}`, a.summary]),
    },
    {
      title: 'Verification',
      header: ['check', 'passed', 'detail', 'by', 'at'],
      rows: report.verification.map((v) => [v.check, v.passed ? 'yes' : 'NO', v.detail, v.actor, v.at]),
      ...(report.verification.length === 0 ? { note: 'No verification recorded for this run.' } : {}),
    },
  );
  return sections;
}
