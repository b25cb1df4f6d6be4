import cliProgress from 'cli-progress';
import type { Counts, ProgressSnapshot, RunHandle, RunOutcome } from '../index.js';
import { exitCodeOfOutcome } from './exit-codes.js';
import { logSink } from './logger.js';

/** Writes one JSON line on stdout (the machine-readable output when not on a terminal, or with --json). */
export function jsonLine(event: string, payload: object): void {
  process.stdout.write(`${JSON.stringify({ event, ...payload })}\n`);
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  if (seconds < 10) return `${(Math.round(seconds * 10) / 10).toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatCounts(c: Counts): string {
  return `received ${formatCount(c.received)} · processed ${formatCount(c.processed)} · skipped ${formatCount(c.skipped)} · failed ${formatCount(c.failed)}${c.quarantined > c.failed ? ` · malformed ${formatCount(c.quarantined - c.failed)}` : ''}`;
}

/**
 * Shows a run's progress: a live bar on a terminal, JSON lines otherwise. Fed by the handle's
 * events (progress comes on a ticker, about once a second), never per item.
 */
export function attachProgress(handle: RunHandle, interactive: boolean): () => void {
  // This display prints the run's events: the log records that mirror them would print them twice.
  logSink.printsEvents = true;
  if (!interactive) {
    handle.on('started', (info) => jsonLine('started', info));
    handle.on('progress', (p) => jsonLine('progress', p));
    handle.on('state', (s) => jsonLine('state', s));
    handle.on('quarantined', (q) => jsonLine('quarantined', q));
    handle.on('retry', (r) => jsonLine('retry', r));
    handle.on('throttle', (t) => jsonLine('throttle', t));
    handle.on('following', (f) => jsonLine('following', f));
    return () => {
      logSink.printsEvents = false;
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {percentage}% | {done}/{planned} | {counts} | {rate}/s | ETA {eta_text}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
      etaBuffer: 1,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const render = (p: ProgressSnapshot) => {
    const planned = p.plannedItems ?? Math.max(p.counts.received, 1);
    const payload = {
      done: formatCount(p.counts.received),
      planned: p.plannedItems === null ? '?' : formatCount(p.plannedItems),
      counts: `recv ${formatCount(p.counts.received)} · ok ${formatCount(p.counts.processed)} · skip ${formatCount(p.counts.skipped)} · fail ${formatCount(p.counts.failed)}`,
      rate: formatCount(p.itemsPerSecond),
      eta_text: formatDuration(p.etaSeconds),
    };
    if (!started) {
      bar.start(planned, Math.min(p.counts.received, planned), payload);
      started = true;
    } else {
      bar.setTotal(planned);
      bar.update(Math.min(p.counts.received, planned), payload);
    }
  };
  handle.on('started', (info) => {
    process.stderr.write(
      `${info.resumed ? 'resuming' : 'starting'} run ${info.runId} of ${info.backfill}${info.dryRun ? ' (dry run: nothing is written)' : ''}\n`,
    );
    if (info.throttle) process.stderr.write(`  ${info.throttle}\n`);
  });
  handle.on('progress', render);
  // A line under the bar: stop the bar (it redraws at the next progress event) so it is not torn.
  const line = (text: string) => {
    if (started) {
      render(handle.progress());
      bar.stop();
    }
    started = false;
    process.stderr.write(`${text}\n`);
  };
  handle.on('state', (s) => line(`${s.from} → ${s.to} (by ${s.actor}: ${s.reason})`));
  handle.on('quarantined', (q) => line(`quarantined ${q.count} item(s) of partition ${q.partition}: ${q.errorClass}`));
  handle.on('throttle', (t) => t.kind !== 'configured' && line(`throttle ${t.kind}: ${t.reason}`));
  handle.on('following', (f) =>
    line(
      `nothing left to claim here: following run ${f.runId} while ${f.otherWorkers.length} other worker${f.otherWorkers.length === 1 ? '' : 's'} finish${f.otherWorkers.length === 1 ? 'es' : ''} it (progress of the whole run)`,
    ),
  );
  handle.on('retry', (r) =>
    line(`retrying a batch of partition ${r.partition} in ${r.delayMs} ms (attempt ${r.attempt} failed: ${r.errorClass}: ${r.message})`),
  );
  // Other log lines (warnings, errors) go through the bar too.
  const writeLine = logSink.writeLine;
  logSink.writeLine = line;
  return () => {
    logSink.printsEvents = false;
    logSink.writeLine = writeLine;
    if (started) {
      render(handle.progress());
      bar.stop();
    }
  };
}

/** What goes on without this process: "2 other workers go on with run X; `sluice pause X` pauses the whole run". */
export function othersGoOn(workers: number, runId: string): string {
  return `${workers} other worker${workers === 1 ? '' : 's'} go${workers === 1 ? 'es' : ''} on with run ${runId}; \`sluice pause ${runId}\` pauses the whole run`;
}

/** Items per second over `ms`; null when there is no time to divide by. */
function perSecond(items: number, ms: number | null): number | null {
  return ms === null || ms <= 0 ? null : items / (ms / 1000);
}

/**
 * The end of a run: a human summary on a terminal, a JSON line otherwise. Two rates, each over its
 * own items and time: this invocation's (the items this process read and handled, over its wall
 * time) and the run's (all its items, over its time in state running, every execution and worker).
 */
export function printOutcome(outcome: RunOutcome, interactive: boolean, extra: Record<string, unknown> = {}): void {
  const seconds = outcome.durationMs / 1000;
  const rate = perSecond(outcome.executionCounts.received, outcome.durationMs) ?? 0;
  const runRate = perSecond(outcome.counts.received, outcome.activeMs);
  if (!interactive) {
    const { record: _record, pausedAsAsked: _pausedAsAsked, ...rest } = outcome;
    jsonLine('summary', {
      ...rest,
      exitCode: exitCodeOfOutcome(outcome),
      itemsPerSecond: Math.round(rate),
      runItemsPerSecond: runRate === null ? null : Math.round(runRate),
      ...extra,
    });
    return;
  }
  // A run with earlier executions or other workers: say what this invocation did and what the run did.
  const shared = outcome.executionCounts.received !== outcome.counts.received || outcome.executionBatches !== outcome.batches;
  const lines = [
    `run ${outcome.runId} (${outcome.backfill}) ${outcome.state}${outcome.dryRun ? ' — dry run, nothing was written' : ''}`,
    outcome.reason ? `  why: ${outcome.reason}` : undefined,
    `  ${formatCounts(outcome.counts)}`,
    shared
      ? `  this invocation: ${formatCount(outcome.executionCounts.received)} items in ${formatCount(outcome.executionBatches)} batches in ${formatDuration(seconds)} (${formatCount(rate)} items/s)`
      : `  ${formatCount(outcome.batches)} batches in ${formatDuration(seconds)} (${formatCount(rate)} items/s)`,
    shared && runRate !== null
      ? `  the run: ${formatCount(outcome.counts.received)} items in ${formatCount(outcome.batches)} batches over ${formatDuration(outcome.activeMs! / 1000)} running (${formatCount(runRate)} items/s)`
      : undefined,
    outcome.state === 'paused' ? `  resume with: sluice resume ${outcome.runId}` : undefined,
    outcome.state === 'running' ? `  this process stopped; ${othersGoOn(outcome.otherWorkers?.length ?? 0, outcome.runId)}` : undefined,
    outcome.counts.quarantined > 0 ? `  quarantine: sluice quarantine list --run ${outcome.runId}` : undefined,
  ];
  process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}
