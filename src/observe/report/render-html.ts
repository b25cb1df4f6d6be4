import { reportSections } from './sections.js';
import type { RunReport } from './run-report.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A self-contained HTML page (no scripts, no external assets): safe to attach to a ticket. */
export function renderHtml(report: RunReport): string {
  const sections = reportSections(report)
    .map(
      (s) =>
        `<section><h2>${escapeHtml(s.title)}</h2>${s.note ? `<p>${escapeHtml(s.note)}</p>` : ''}${s.rows.length === 0 ? '<p><em>none</em></p>' : `<table><thead><tr>${s.header.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${s.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backfill report: ${escapeHtml(report.run.backfill)} · ${escapeHtml(report.run.id)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1f24; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
pre { background: #f6f8fa; padding: .75rem; overflow-x: auto; }
</style>
</head>
<body>
<h1>Backfill report: ${escapeHtml(report.run.backfill)} · run ${escapeHtml(report.run.id)}</h1>
<p>State <strong>${escapeHtml(report.run.state)}</strong>${report.run.reason ? ` (${escapeHtml(report.run.reason)})` : ''}; generated ${escapeHtml(report.generatedAt)}.</p>
${sections}
<section><h2>Parameters</h2><pre>${escapeHtml(JSON.stringify(report.parameters, null, 2))}</pre></section>
</body>
</html>
`;
}
