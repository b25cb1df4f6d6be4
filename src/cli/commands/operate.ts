import type { Command } from 'commander';
import { parseDuration, UsageError } from '../../index.js';
import { ExitCode } from '../exit-codes.js';
import { parseParams, positiveInteger } from '../options.js';
import { formatCount, formatDuration, jsonLine } from '../output.js';
import { withContext } from './shared.js';

export function registerOperateCommands(program: Command): void {
  program
    .command('plan <backfill>')
    .description(
      'estimate a run before starting it: count the pending items, time a short dry run, and say how long it takes at a concurrency (N × t_avg / C) or which concurrency meets --target',
    )
    .option('--since <when>', 'only items since a duration ago (7d, 12h, 30m) or an ISO date')
    .option('--concurrency <n>', "lanes to estimate for (default: the definition's)")
    .option('--target <duration>', 'a wall-clock target (2h, 30m): say which concurrency meets it')
    .option('--sample-batches <n>', 'batches the timing dry run processes (default 3)')
    .option('--param <key=value>', 'a run parameter (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .action(
      async (
        backfill: string,
        options: { since?: string; concurrency?: string; target?: string; sampleBatches?: string; param?: string[] },
        command: Command,
      ) => {
        const concurrency = positiveInteger('--concurrency', options.concurrency, 256);
        const targetMs = options.target === undefined ? undefined : parseDuration(options.target, '--target');
        const sampleBatches = positiveInteger('--sample-batches', options.sampleBatches, 1000) ?? 3;
        const params = parseParams(options.param);
        await withContext(command, { needsConfig: true, createStore: true, backfill }, async (ctx) => {
          const base = {
            ...(options.since ? { since: options.since } : {}),
            ...(concurrency ? { concurrency } : {}),
            params,
            actor: ctx.actor,
          };
          const preview = await ctx.sluice.preview(backfill, base);
          const lanes = preview.options.concurrency;
          const timing =
            preview.plannedItems === 0
              ? undefined
              : await (await ctx.sluice.start(backfill, { ...base, dryRun: true, maxBatches: sampleBatches })).done;
          const perItemMs = timing && timing.counts.received > 0 ? timing.durationMs / timing.counts.received : undefined;
          const items = preview.plannedItems;
          const estimateSeconds = perItemMs !== undefined && items !== null ? (items * perItemMs) / lanes / 1000 : null;
          const needed =
            perItemMs !== undefined && items !== null && targetMs !== undefined
              ? Math.max(1, Math.ceil((items * perItemMs) / targetMs))
              : undefined;
          const result = {
            backfill,
            pendingItems: items,
            partitions: preview.partitions.length,
            concurrency: lanes,
            batchSize: preview.options.batchSize,
            sample: timing
              ? { items: timing.counts.received, durationMs: timing.durationMs, quarantined: timing.counts.quarantined }
              : null,
            msPerItem: perItemMs ?? null,
            estimateSeconds,
            ...(targetMs !== undefined ? { targetSeconds: targetMs / 1000, concurrencyForTarget: needed ?? null } : {}),
          };
          if (ctx.json || !ctx.interactive) {
            jsonLine('plan', result);
            return 0;
          }
          const lines = [
            `${backfill}: ${items === null ? 'an unknown number of' : formatCount(items)} items pending in ${preview.partitions.length} partition(s)`,
          ];
          if (!timing) lines.push('  nothing to time: no pending items');
          else if (perItemMs === undefined) lines.push('  the timing dry run read no items');
          else {
            lines.push(
              `  a dry run of ${formatCount(timing.counts.received)} items took ${timing.durationMs} ms: ${perItemMs.toFixed(3)} ms per item${timing.counts.quarantined ? ` (${timing.counts.quarantined} would be quarantined)` : ''}`,
            );
            if (estimateSeconds !== null)
              lines.push(
                `  estimate at concurrency ${lanes}: ${formatDuration(estimateSeconds)} (N × t_avg / C = ${formatCount(items!)} × ${perItemMs.toFixed(3)} ms / ${lanes})`,
              );
            if (needed !== undefined)
              lines.push(
                `  to finish within ${options.target}: concurrency ${needed}${needed > 256 ? ' (more than one process can run: add workers)' : ''}`,
              );
          }
          lines.push('  (an estimate from a short sample: the database under load, the throttle and retries change it)');
          process.stdout.write(`${lines.join('\n')}\n`);
          return 0;
        });
      },
    );

  program
    .command('verify <run>')
    .description(
      "run the definition's checks (parity, uniqueness, coverage, your own) and record the results with the run (sluice report shows them)",
    )
    .action(async (runId: string, _options: object, command: Command) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) throw new UsageError(`"${runId}" is not a run id`);
      await withContext(command, { needsConfig: true }, async (ctx) => {
        const results = await ctx.sluice.verify(runId, ctx.actor);
        if (ctx.json || !ctx.interactive) for (const r of results) jsonLine('verified', { ...r });
        else process.stdout.write(`${results.map((r) => `${r.passed ? 'PASS' : 'FAIL'}  ${r.check}: ${r.detail}`).join('\n')}\n`);
        return results.every((r) => r.passed) ? ExitCode.ok : ExitCode.failed;
      });
    });
}
