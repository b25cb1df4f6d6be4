import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../../index.js';
import { buildRunReport, renderHtml, renderMarkdown } from '../../observe.js';
import { withContext } from './shared.js';

const FORMATS = ['md', 'json', 'html'] as const;

export function registerReportCommand(program: Command): void {
  program
    .command('report <run>')
    .description(
      'an audit report of a run: parameters, who started it, state history, counts, batch duration percentiles, errors with samples, quarantine, throttle history, SLO alerts',
    )
    .option('--format <format>', 'md (default), json or html')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (runId: string, options: { format?: string; out?: string }, command: Command) => {
      const format = options.format ?? 'md';
      if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be md, json or html, got "${format}"`);
      await withContext(command, { needsConfig: false }, async (ctx) => {
        const report = await buildRunReport(ctx.sluice, runId);
        const text =
          format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'html' ? renderHtml(report) : renderMarkdown(report);
        if (options.out === undefined) process.stdout.write(text);
        else writeFileSync(options.out, text);
        return 0;
      });
    });
}
