import type { RunReport } from './run-report.js';
import { reportSections } from './sections.js';

/** Markdown table cell: no pipe or newline from the data may break the table. */
function cell(value: unknown): string {
  return String(value ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
}

/** The report as Markdown (GitHub-flavoured tables): for a pull request, a ticket or a wiki page. */
export function renderMarkdown(report: RunReport): string {
  const lines = [`# Backfill report: ${report.run.backfill} · run ${report.run.id}`, '', `Generated ${report.generatedAt}.`, ''];
  for (const section of reportSections(report)) {
    lines.push(`## ${section.title}`, '');
    if (section.rows.length === 0) lines.push('_none_');
    else
      lines.push(
        `| ${section.header.join(' | ')} |`,
        `| ${section.header.map(() => '---').join(' | ')} |`,
        ...section.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
      );
    if (section.note) lines.push('', section.note);
    lines.push('');
  }
  lines.push('## Parameters', '', '```json', JSON.stringify(report.parameters, null, 2), '```', '');
  return lines.join('\n');
}
