import { OPEN_STATES, RunAlreadySucceededError, type RunRecord } from '../../index.js';
import { ExitCode } from '../exit-codes.js';
import type { CliContext } from '../context.js';
import type { RunFlags } from '../options.js';
import { formatCount, formatCounts, formatDuration, jsonLine } from '../output.js';
import { WorkerSupervisor } from '../worker-supervisor.js';
import { DEMO_BACKFILL_NAME } from './email-risk-scores.js';
import { demoCoveragePostgres } from './seed-postgres.js';

const STATUS_EVERY_MS = 1000;

/**
 * `sluice demo --db postgres://… --workers N`: the demo run recorded in PostgreSQL and executed by
 * N `sluice worker` processes sharing it, kept alive by a supervisor: a worker that is killed or
 * loses the database for too long is replaced, and the run finishes without an operator.
 * Ctrl-C hands the partitions back and pauses the run (exit 3); the next demo resumes it.
 */
export async function runDemoWithWorkers(ctx: CliContext, url: string, workers: number, flags: RunFlags): Promise<number> {
  const { sluice } = ctx;
  const run = await openRun(ctx, flags, workers);
  const started = Date.now();
  say(
    ctx,
    run.state === 'pending' && run.batches === 0
      ? `run ${run.id} queued for ${workers} worker(s)`
      : `resuming run ${run.id} with ${workers} worker(s)`,
    { event: 'run', runId: run.id, workers },
  );

  const supervisor = new WorkerSupervisor({
    count: workers,
    // One lane per worker: the run is planned with a partition per worker, and idle ones split.
    args: ['worker', '--db', url, '--backfill', DEMO_BACKFILL_NAME, '--exit-when-idle', '--poll', '250ms', '--concurrency', '1', '--json'],
    env: process.env,
    onEvent: (event) => {
      if (event.kind === 'started') say(ctx, undefined, { event: 'worker', action: 'started', slot: event.slot, pid: event.pid });
      else if (event.code !== 0) {
        const how = event.signal ? `was killed (${event.signal})` : `exited with code ${event.code}`;
        say(
          ctx,
          `worker ${event.pid} ${how}${event.respawn ? '; starting a replacement (its partitions are taken over from their last checkpoint)' : ''}${event.stderrTail && !event.signal ? `: ${event.stderrTail}` : ''}`,
          {
            event: 'worker',
            action: 'exited',
            slot: event.slot,
            pid: event.pid,
            code: event.code,
            signal: event.signal,
            respawn: event.respawn,
          },
        );
      }
    },
  });

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(
      `\n${signal}: the workers finish their batches in flight and hand their partitions back; then the run is paused\n`,
    );
    supervisor.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ticker = setInterval(() => void showProgress(ctx, run.id, supervisor.pids().length, started), STATUS_EVERY_MS);
  try {
    const result = await supervisor.done;
    clearInterval(ticker);
    if (ctx.interactive) process.stderr.write('\n');
    let final = await sluice.status(run.id);
    if (interrupted && OPEN_STATES.includes(final.run.state)) {
      await sluice.pause(run.id, ctx.actor, 'demo interrupted (signal)');
      final = await sluice.status(run.id);
    }
    const coverage = await demoCoveragePostgres(url);
    const seconds = (Date.now() - started) / 1000;
    if (ctx.interactive) {
      process.stdout.write(
        [
          `run ${final.run.id} (${final.run.backfill}) ${final.run.state}`,
          final.run.reason ? `  why: ${final.run.reason}` : '',
          `  ${formatCounts(final.run.counts)}`,
          `  ${formatCount(final.run.batches)} batches by ${workers} worker(s) in ${formatDuration(seconds)}; ${result.respawns} replaced`,
          final.run.state === 'paused' ? `  resume with: sluice demo --db <same url> --workers ${workers}` : '',
          `coverage: scored ${formatCount(coverage.scored)} of ${formatCount(coverage.total)} emails (${coverage.percent.toFixed(1)} %)`,
          `score_writes: min ${coverage.minWrites}, max ${coverage.maxWrites}`,
        ]
          .filter(Boolean)
          .join('\n') + '\n',
      );
    } else {
      jsonLine('summary', {
        runId: final.run.id,
        state: final.run.state,
        reason: final.run.reason,
        counts: final.run.counts,
        batches: final.run.batches,
        workers,
        respawns: result.respawns,
        gaveUp: result.gaveUp,
        durationMs: Math.round(seconds * 1000),
        coverage,
      });
    }
    if (result.gaveUp) process.stderr.write('the workers kept failing; gave up replacing them (see the messages above)\n');
    switch (final.run.state) {
      case 'succeeded':
        return ExitCode.ok;
      case 'paused':
        return ExitCode.paused;
      case 'cancelled':
        return ExitCode.cancelled;
      default:
        return ExitCode.failed;
    }
  } finally {
    clearInterval(ticker);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The demo's open run, handed (back) to the workers, or a new one. */
async function openRun(ctx: CliContext, flags: RunFlags, workers: number): Promise<RunRecord> {
  const options = {
    actor: ctx.actor,
    reason: 'demo with workers',
    // A partition per worker unless --concurrency says otherwise.
    throttleLayers: [{ source: '--workers', knobs: { concurrency: workers } }, ...flags.throttleLayers],
    ...(flags.since ? { since: flags.since } : {}),
  };
  try {
    return (await ctx.sluice.enqueue(DEMO_BACKFILL_NAME, options)).run;
  } catch (error) {
    // The demo's source selects only the rows still to score: a run after a success is harmless.
    if (error instanceof RunAlreadySucceededError) return (await ctx.sluice.enqueue(DEMO_BACKFILL_NAME, { ...options, newRun: true })).run;
    throw error;
  }
}

/** One status line: a live line on a terminal, a JSON line otherwise. Store hiccups (a restart) are skipped. */
async function showProgress(ctx: CliContext, runId: string, workers: number, started: number): Promise<void> {
  try {
    const { run } = await ctx.sluice.status(runId);
    const planned = run.plannedItems ?? 0;
    const seconds = (Date.now() - started) / 1000;
    if (ctx.interactive) {
      const percent = planned > 0 ? ` (${((Math.min(run.counts.received, planned) / planned) * 100).toFixed(1)} %)` : '';
      process.stderr.write(
        `\r ${run.state}: ${formatCount(run.counts.received)} of ${formatCount(planned)}${percent} · ${workers} worker(s) · ${formatDuration(seconds)}   `,
      );
    } else {
      jsonLine('progress', {
        runId,
        state: run.state,
        counts: run.counts,
        batches: run.batches,
        plannedItems: run.plannedItems,
        workers,
        elapsedMs: Math.round(seconds * 1000),
      });
    }
  } catch {
    // The database may be restarting: the workers ride it out, and so does this line.
  }
}

function say(ctx: CliContext, text: string | undefined, json: Record<string, unknown> & { event: string }): void {
  if (ctx.interactive) {
    if (text) process.stderr.write(`\n${text}\n`);
  } else {
    const { event, ...rest } = json;
    jsonLine(event, rest);
  }
}
