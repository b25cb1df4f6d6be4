import type { Clock } from '../clock.js';
import type { BackfillDefinition } from '../definition.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Sluice } from '../sluice.js';
import type { AlertNotification } from './alert-notification.js';
import type { AlertRecord } from './alert-record.js';
import { type AlertPhase, nextPhase } from './alert-state.js';
import { readTier, type TierReading, type WindowCounts, windowsOf } from './burn-rate.js';
import { formatDuration } from './duration.js';
import type { Severity, Slo, SloConfig, Tier, Webhook } from './slo.js';

/** Sends notifications (an HTTP adapter in `observe/`); the monitor never waits for it. */
export interface AlertNotifier {
  notify(webhooks: readonly Webhook[], notification: AlertNotification): void;
}

/** One tier's reading and phase after an evaluation. */
export interface AlertReading {
  backfill: string;
  slo: string;
  tier: string;
  severity: Severity;
  state: AlertPhase['state'];
  burnLong: number;
  burnShort: number | null;
  summary: string;
}

export interface SloMonitorOptions {
  sluice: Sluice;
  clock: Clock;
  logger: Logger;
  notifier?: AlertNotifier;
  /** Called after every evaluation (metrics, tests). */
  onEvaluated?: (readings: AlertReading[]) => void;
}

/**
 * Evaluates the SLOs of the registered backfills from the store's batch history, on an interval:
 * burn rates per tier and window, alert phases moved by compare-and-set in the store (so that many
 * workers evaluating the same SLO notify once), webhooks on firing and resolved, and an optional
 * pause of the backfill's running runs while a page alert fires.
 */
export class SloMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: SloMonitorOptions) {}

  /** Backfills with SLOs; the monitor does nothing without any. */
  watched(): BackfillDefinition<unknown>[] {
    return this.options.sluice.backfills().filter((d) => d.slo !== undefined);
  }

  /** Evaluates at once, then every `evaluateEveryMs` (the shortest of the watched backfills). */
  start(): void {
    const watched = this.watched();
    if (watched.length === 0 || this.timer) return;
    const every = Math.min(...watched.map((d) => d.slo!.evaluateEveryMs));
    const tick = () => {
      if (this.stopped || this.running) return;
      this.running = this.evaluate().then(
        () => undefined,
        (error: unknown) => this.options.logger.warn({ err: error }, `SLO evaluation failed: ${messageOf(error)}`),
      ).finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One evaluation of every watched backfill's objectives. */
  async evaluate(): Promise<AlertReading[]> {
    const readings: AlertReading[] = [];
    for (const definition of this.watched()) readings.push(...(await this.evaluateBackfill(definition.name, definition.slo!)));
    this.options.onEvaluated?.(readings);
    return readings;
  }

  private async evaluateBackfill(backfill: string, config: SloConfig): Promise<AlertReading[]> {
    const { sluice, clock } = this.options;
    const now = clock.now();
    const stored = new Map((await sluice.store.listAlerts(backfill)).map((a) => [`${a.slo}/${a.tier}`, a]));
    const readings: AlertReading[] = [];
    for (const slo of config.objectives) {
      const counts = new Map<number, WindowCounts>();
      for (const windowMs of windowsOf(slo)) counts.set(windowMs, await this.windowCounts(backfill, slo, now - windowMs));
      for (const tier of slo.tiers) {
        const reading = readTier(tier, slo, (w) => counts.get(w)!);
        readings.push(await this.advance(backfill, slo, reading, stored.get(`${slo.name}/${tier.name}`), now, config));
      }
    }
    return readings;
  }

  private async windowCounts(backfill: string, slo: Slo, sinceMs: number): Promise<WindowCounts> {
    const thresholdMs = slo.sli.kind === 'batch-duration' ? slo.sli.thresholdSeconds * 1000 : Number.MAX_SAFE_INTEGER;
    const window = await this.options.sluice.store.batchWindow(backfill, sinceMs, thresholdMs);
    return slo.sli.kind === 'batch-duration' ? { total: window.batches, bad: window.slowBatches } : { total: window.items, bad: window.badItems };
  }

  /** Moves one alert to its next phase; the process that wins the compare-and-set notifies. */
  private async advance(backfill: string, slo: Slo, reading: TierReading, stored: AlertRecord | undefined, now: number, config: SloConfig): Promise<AlertReading> {
    const { tier } = reading;
    const current: AlertPhase = stored ? { state: stored.state, since: Date.parse(stored.since) } : { state: 'inactive', since: 0 };
    const next = nextPhase(current, reading.burning, tier.forMs, now);
    const summary = summarize(slo, reading);
    const base = { backfill, slo: slo.name, tier: tier.name, severity: tier.severity, burnLong: reading.burnLong, burnShort: reading.burnShort ?? null, summary };
    if (next.state === current.state && !stored) return { ...base, state: next.state };
    const won = await this.options.sluice.store.changeAlert({ ...base, from: current.state, to: next.state, sinceMs: next.since });
    if (!won || next.state === current.state) return { ...base, state: next.state };
    this.options.logger[next.state === 'firing' ? 'warn' : 'info']({ backfill, slo: slo.name, tier: tier.name, state: next.state }, `SLO alert ${slo.name}/${tier.name} ${next.state}: ${summary}`);
    if (next.state === 'firing' || next.state === 'resolved') await this.notify(backfill, slo, tier, reading, next, summary, config);
    return { ...base, state: next.state };
  }

  private async notify(backfill: string, slo: Slo, tier: Tier, reading: TierReading, phase: AlertPhase, summary: string, config: SloConfig): Promise<void> {
    const { sluice } = this.options;
    const runs = (await sluice.listRuns({ backfill, states: ['running'] })).map((r) => r.id);
    const paused: string[] = [];
    if (phase.state === 'firing' && tier.severity === 'page' && config.pauseOnPage) {
      for (const runId of runs) {
        try {
          await sluice.pause(runId, 'slo', `SLO ${slo.name} ${tier.name} firing: ${summary}`);
          paused.push(runId);
        } catch (error) {
          this.options.logger.warn({ runId, err: error }, `could not pause run ${runId} on the SLO alert: ${messageOf(error)}`);
        }
      }
    }
    if (config.webhooks.length === 0 || !this.options.notifier) return;
    this.options.notifier.notify(config.webhooks, {
      backfill,
      slo: slo.name,
      tier: tier.name,
      severity: tier.severity,
      state: phase.state as 'firing' | 'resolved',
      since: new Date(phase.since).toISOString(),
      burnRate: { threshold: tier.burnRate, long: reading.burnLong, short: reading.burnShort ?? null },
      windows: { long: formatDuration(tier.longWindowMs), short: tier.shortWindowMs === undefined ? null : formatDuration(tier.shortWindowMs) },
      summary,
      runs,
      paused,
    });
  }
}

/** `batch-duration burns 15.2× (1h) and 18.0× (5m) of its budget; the tier fires at 14.4×`. */
export function summarize(slo: Slo, reading: TierReading): string {
  const { tier } = reading;
  const long = `${round(reading.burnLong)}× over ${formatDuration(tier.longWindowMs)}`;
  const short = reading.burnShort === undefined || tier.shortWindowMs === undefined ? '' : ` and ${round(reading.burnShort)}× over ${formatDuration(tier.shortWindowMs)}`;
  const what = slo.sli.kind === 'batch-duration' ? `batches over ${slo.sli.thresholdSeconds} s` : 'quarantined items';
  return `${what} burn the error budget at ${long}${short} (${tier.burnRate}× fires)`;
}

function round(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}
