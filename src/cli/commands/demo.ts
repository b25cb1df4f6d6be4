import type { Command } from 'commander';
import { RunAlreadySucceededError, UsageError } from '../../index.js';
import { dbPathOf, type GlobalFlags, isPostgresUrl } from '../context.js';
import { DEMO_BACKFILL_NAME } from '../demo/email-risk-scores.js';
import { runDemoWithWorkers } from '../demo/postgres-demo.js';
import { DEMO_DEFAULT_ROWS, demoCoverage, seedDemo, type SeedResult } from '../demo/seed.js';
import { demoCoveragePostgres, seedDemoPostgres } from '../demo/seed-postgres.js';
import { exitCodeOfOutcome } from '../exit-codes.js';
import { runInForeground } from '../foreground.js';
import { formatCount } from '../output.js';
import { parsePort, parseRunFlags, positiveInteger, type RawRunFlags } from '../options.js';
import { startObservers, withContext, withRunOptions } from './shared.js';

export function registerDemoCommand(program: Command): void {
  withRunOptions(
    program
      .command('demo')
      .description('score the risk of 200,000 demo emails in the embedded store (or PostgreSQL, with workers), resumably'),
  )
    .option('--rows <n>', `rows of the demo table when it is created (default ${DEMO_DEFAULT_ROWS})`)
    .option('--workers <n>', 'with --db postgres://…: run the demo in N `sluice worker` processes sharing the run (replaced if they die)')
    .action(async (raw: RawRunFlags & { rows?: string; workers?: string; metricsPort?: string }, command: Command) => {
      const flags = parseRunFlags(raw);
      const metricsPort = parsePort('--metrics-port', raw.metricsPort);
      const rows = positiveInteger('--rows', raw.rows, 50_000_000);
      const workers = positiveInteger('--workers', raw.workers, 64);
      const globals = command.optsWithGlobals<GlobalFlags>();
      const path = dbPathOf(globals);
      const postgres = isPostgresUrl(path);
      if (workers !== undefined && !postgres) {
        throw new UsageError('--workers needs a store that worker processes share: pass --db postgres://user@host:5432/database', {
          hint: 'on the embedded SQLite store, use --concurrency to work several partitions at once in this process',
        });
      }
      if (workers !== undefined && (flags.dryRun || flags.maxBatches !== undefined)) {
        throw new UsageError(
          '--workers runs the demo in worker processes: --dry-run and --max-batches apply to a run in this process; leave --workers out for them',
        );
      }
      await withContext(command, { needsConfig: false, createStore: true, demo: true }, async (ctx) => {
        // The store is open (and its file or server checked) before the demo table is seeded beside it.
        const total = rows ?? DEMO_DEFAULT_ROWS;
        const seeded = postgres ? await seedDemoPostgres(path, total) : seedDemo(path, total);
        process.stderr.write(`${seedNote(seeded, postgres ? 'the database' : path, rows)}\n`);
        if (postgres && workers !== undefined) return runDemoWithWorkers(ctx, path, workers, flags);
        const coverageNow = async () => (postgres ? demoCoveragePostgres(path) : demoCoverage(path));
        // The demo's source selects only the rows still to score: a run after a success is harmless (it finds none).
        const handle = await ctx.sluice.start(DEMO_BACKFILL_NAME, { ...flags, actor: ctx.actor }).catch((error: unknown) => {
          if (error instanceof RunAlreadySucceededError)
            return ctx.sluice.start(DEMO_BACKFILL_NAME, { ...flags, actor: ctx.actor, newRun: true });
          throw error;
        });
        (await startObservers(ctx, metricsPort))(handle);
        let coverage: Awaited<ReturnType<typeof coverageNow>> | undefined;
        const outcome = await runInForeground(handle, ctx.interactive, async () => ({ coverage: (coverage = await coverageNow()) }));
        const c = coverage ?? (await coverageNow());
        if (!outcome.dryRun && outcome.state === 'succeeded' && outcome.counts.received === 0) {
          process.stderr.write(
            c.scored === c.total
              ? `nothing left to score: all ${formatCount(c.total)} emails already have a risk_score (run ${outcome.runId} found no row to fill)\n`
              : `nothing to score in this run's window: ${formatCount(c.total - c.scored)} emails without a risk_score are outside it\n`,
          );
        }
        if (ctx.interactive) {
          process.stdout.write(
            `coverage: scored ${formatCount(c.scored)} of ${formatCount(c.total)} emails (${c.percent.toFixed(1)} %)\nscore_writes: min ${c.minWrites}, max ${c.maxWrites}\n`,
          );
        }
        return exitCodeOfOutcome(outcome);
      });
    });
}

function seedNote(seeded: SeedResult, where: string, rows: number | undefined): string {
  return seeded.created
    ? `created ${where === 'the database' ? 'table emails in the database' : where} with ${formatCount(seeded.rows)} emails (risk_score NULL)`
    : `using ${formatCount(seeded.rows)} emails already in ${where}${rows !== undefined && rows !== seeded.rows ? ` (--rows ${rows} applies only when the table is created)` : ''}`;
}
