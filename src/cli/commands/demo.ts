import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { dbPathOf, type GlobalFlags, isPostgresUrl } from '../context.js';
import { DEMO_BACKFILL_NAME } from '../demo/email-risk-scores.js';
import { DEMO_DEFAULT_ROWS, demoCoverage, seedDemo } from '../demo/seed.js';
import { runInForeground } from '../foreground.js';
import { formatCount } from '../output.js';
import { parseRunFlags, positiveInteger, type RawRunFlags } from '../options.js';
import { withContext, withRunOptions } from './shared.js';

export function registerDemoCommand(program: Command): void {
  withRunOptions(program.command('demo').description('score the risk of 200,000 demo emails in the embedded store, resumably'))
    .option('--rows <n>', `rows of the demo table when it is created (default ${DEMO_DEFAULT_ROWS})`)
    .action(async (raw: RawRunFlags & { rows?: string }, command: Command) => {
      const flags = parseRunFlags(raw);
      const rows = positiveInteger('--rows', raw.rows, 50_000_000);
      const globals = command.optsWithGlobals<GlobalFlags>();
      const path = dbPathOf(globals);
      if (isPostgresUrl(path)) {
        throw new UsageError('the demo runs on the embedded SQLite store; pass --db with a file path (a PostgreSQL demo with several workers is planned)');
      }
      await withContext(command, { needsConfig: false, createStore: true }, async (ctx) => {
        // The store is open (and its file checked) before the demo table is seeded beside it.
        const seeded = seedDemo(path, rows ?? DEMO_DEFAULT_ROWS);
        const note = seeded.created
          ? `created ${path} with ${formatCount(seeded.rows)} emails (risk_score NULL)`
          : `using ${formatCount(seeded.rows)} emails already in ${path}${rows !== undefined && rows !== seeded.rows ? ` (--rows ${rows} applies only when the table is created)` : ''}`;
        process.stderr.write(`${note}\n`);
        const handle = await ctx.sluice.start(DEMO_BACKFILL_NAME, { ...flags, actor: ctx.actor });
        let coverage: ReturnType<typeof demoCoverage> | undefined;
        const outcome = await runInForeground(handle, ctx.interactive, () => ({ coverage: (coverage = demoCoverage(path)) }));
        const c = coverage ?? demoCoverage(path);
        if (!outcome.dryRun && outcome.state === 'succeeded' && outcome.counts.received === 0) {
          process.stderr.write(c.scored === c.total
            ? `nothing left to score: all ${formatCount(c.total)} emails already have a risk_score (run ${outcome.runId} found no row to fill)\n`
            : `nothing to score in this run's window: ${formatCount(c.total - c.scored)} emails without a risk_score are outside it\n`);
        }
        if (ctx.interactive) {
          process.stdout.write(`coverage: scored ${formatCount(c.scored)} of ${formatCount(c.total)} emails (${c.percent.toFixed(1)} %)\nscore_writes: min ${c.minWrites}, max ${c.maxWrites}\n`);
        }
        return outcome.exitCode;
      });
    });
}
