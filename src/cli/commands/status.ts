import type { Command } from 'commander';
import { isRunState, OPEN_STATES, type RunRecord, type RunState, type Sluice, type Stalled, UsageError } from '../../index.js';
import { type GlobalFlags, definedBackfills, NO_BACKFILLS_HINT } from '../context.js';
import { positiveInteger } from '../options.js';
import { partitionLines, stalledLines, stalledNote } from '../lease-lines.js';
import { formatCount, formatCounts } from '../output.js';
import { withContext } from './shared.js';

export function registerStatusCommands(program: Command): void {
  program
    .command('status [run]')
    .description('the open runs, or one run in detail: state and why, counts, partitions, transitions, quarantine')
    .action(async (runId: string | undefined, _options: object, command: Command) => {
      await withContext(command, { needsConfig: false }, async (ctx) => {
        if (!runId) {
          const runs = await withStalled(ctx.sluice, await ctx.sluice.listRuns({ states: OPEN_STATES, limit: 100 }));
          if (ctx.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
          else process.stdout.write(runs.length === 0 ? 'no open runs\n' : runTable(runs));
          return 0;
        }
        const status = await ctx.sluice.status(runId);
        if (ctx.json) {
          process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
          return 0;
        }
        const { run } = status;
        const now = Date.parse(status.at);
        const planned = run.plannedItems === null ? '' : ` of ${formatCount(run.plannedItems)} planned`;
        // The heading's optional lines are left out when empty; the blank lines after it separate sections.
        const heading = [
          `run ${run.id}  ${run.backfill}  ${run.state}${status.active ? ' (executing)' : status.stalled ? ' (stalled)' : ''}`,
          ...(status.stalled ? stalledLines(run.id, status.stalled, now) : []),
          run.reason ? `  why: ${run.reason}` : '',
          status.queuedBehind ? `  ${status.queuedBehind}` : '',
          status.throttle.state !== 'running'
            ? `  ${status.throttle.state}: ${status.throttle.reason} (since ${status.throttle.since})`
            : '',
          Object.keys(run.keys).length > 0
            ? `  keys: ${Object.entries(run.keys)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')}`
            : '',
          run.control ? `  pending request: ${run.control.kind} by ${run.control.actor} (${run.control.reason})` : '',
          run.canary
            ? `  canary: ${formatCount(run.canary.items)} items for the whole run, ${formatCount(run.canary.left)} not yet claimed`
            : '',
          run.rampLanes !== null
            ? `  gradual rollout: the ramp allows ${run.rampLanes} lane${run.rampLanes === 1 ? '' : 's'} over every worker now`
            : '',
          `  ${formatCounts(run.counts)}${planned}; ${formatCount(run.batches)} batches`,
          `  created by ${run.createdBy} at ${run.createdAt}${run.params.since ? `; since ${run.params.since}` : ''}; batch size ${run.options.batchSize}, concurrency ${run.options.concurrency}`,
        ];
        const lines = [
          ...heading.filter((l) => l !== ''),
          '',
          `partitions (leases by the store's clock, ${status.at}):`,
          ...status.partitions.flatMap((p) => partitionLines(p, now)),
          '',
          'transitions:',
          ...status.transitions.map((t) => `  ${t.at}  ${t.from ?? '∅'} → ${t.to}  by ${t.actor}: ${t.reason}`),
        ];
        if (status.children) {
          const width = Math.max(5, ...status.children.map((c) => c.child.length));
          lines.push(
            '',
            'children:',
            ...status.children.map(
              (c) =>
                `  ${c.child.padEnd(width)}  ${c.outcome.padEnd(7)}  success ${formatCount(c.counts.processed)}, error ${formatCount(c.counts.quarantined)}, skipped ${formatCount(c.counts.skipped)}${c.error ? `  (${c.error})` : ''}`,
            ),
          );
        }
        if (status.alerts.length > 0) {
          lines.push(
            '',
            'SLO alerts:',
            ...status.alerts.map((a) => `  ${a.state.toUpperCase()} ${a.severity}  ${a.slo}/${a.tier} since ${a.since}: ${a.summary}`),
          );
        }
        const decisions = status.decisions.filter((d) => d.kind !== 'configured').slice(0, 10);
        if (decisions.length > 0) {
          lines.push(
            '',
            'throttle decisions (newest first):',
            ...decisions.map((d) => `  ${d.at}  ${d.kind.padEnd(9)} ${d.reason}  (${d.worker})`),
          );
        }
        if (status.quarantine.length > 0) {
          lines.push('', 'quarantine (open):', ...status.quarantine.map((q) => `  ${q.errorClass}: ${formatCount(q.count)}`));
        }
        process.stdout.write(`${lines.join('\n')}\n`);
        return 0;
      });
    });

  program
    .command('list')
    .description('runs, newest first')
    .option('--backfill <name>', 'only runs of this backfill')
    .option('--state <state>', 'only runs in this state (pending, running, paused, succeeded, failed, cancelled)')
    .option('--limit <n>', 'at most this many runs (default 50)')
    .option('--backfills', 'list the defined backfills instead of runs')
    .action(async (options: { backfill?: string; state?: string; limit?: string; backfills?: boolean }, command: Command) => {
      const limit = positiveInteger('--limit', options.limit, 10_000) ?? 50;
      if (options.state !== undefined && !isRunState(options.state)) {
        throw new UsageError(`--state must be one of pending, running, paused, succeeded, failed, cancelled, got "${options.state}"`);
      }
      if (options.backfills) {
        // The definitions only: no store is opened.
        const globals = command.optsWithGlobals<GlobalFlags>();
        const defs = (await definedBackfills(globals)).map((d) => ({
          name: d.name,
          description: d.description,
          source: d.source.description,
          delivery: d.delivery,
          batchSize: d.batchSize,
          concurrency: d.concurrency,
        }));
        if (globals.json) process.stdout.write(`${JSON.stringify(defs, null, 2)}\n`);
        else if (defs.length === 0) process.stdout.write(`${NO_BACKFILLS_HINT}\n`);
        else
          process.stdout.write(
            defs
              .map((d) => `${d.name.padEnd(28)} ${d.delivery.padEnd(14)} ${d.source}${d.description ? ` — ${d.description}` : ''}`)
              .join('\n') + '\n',
          );
        return;
      }
      await withContext(command, { needsConfig: false }, async (ctx) => {
        const runs = await withStalled(
          ctx.sluice,
          await ctx.sluice.listRuns({ backfill: options.backfill, states: options.state ? [options.state as RunState] : undefined, limit }),
        );
        if (ctx.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
        else process.stdout.write(runs.length === 0 ? 'no runs\n' : runTable(runs));
        return 0;
      });
    });
}

/** Runs with, for each running one, whether it is stalled (no live lease: its workers are gone). */
async function withStalled(sluice: Sluice, runs: RunRecord[]): Promise<Array<RunRecord & { stalled: Stalled | null }>> {
  const shown: Array<RunRecord & { stalled: Stalled | null }> = [];
  for (const run of runs) shown.push({ ...run, stalled: run.state === 'running' ? await sluice.stalled(run.id) : null });
  return shown;
}

function runTable(runs: Array<RunRecord & { stalled: Stalled | null }>): string {
  return (
    runs
      .map((r) => {
        const progress = r.plannedItems
          ? ` ${((Math.min(r.counts.received, r.plannedItems) / Math.max(1, r.plannedItems)) * 100).toFixed(1)}%`
          : '';
        const stalled = r.stalled ? `  ${stalledNote(r.stalled)}` : '';
        return `${r.id}  ${r.backfill.padEnd(24)} ${r.state.padEnd(9)}${progress.padStart(7)}  processed ${formatCount(r.counts.processed)}  ${r.createdAt}${stalled}${r.reason ? `  (${r.reason})` : ''}`;
      })
      .join('\n') + '\n'
  );
}
