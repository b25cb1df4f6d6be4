import type { Clock } from '../clock.js';
import type { BackfillDefinition } from '../definition.js';
import { messageOf } from '../errors.js';
import { newId, processIdentity } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Sluice } from '../sluice.js';
import type { AlertNotification } from './alert-notification.js';
import type { AlertRecord } from './alert-record.js';
import { type AlertPhase, nextPhase } from './alert-state.js';
import { readTier, type TierReading, type WindowCounts, windowsOf } from './burn-rate.js';
import { formatDuration } from './duration.js';
import { type AlertNotifier, claimLeaseMs, NotificationDelivery } from './notification-delivery.js';
import type { Severity, Slo, SloConfig, Tier } from './slo.js';

export type { AlertNotifier, AttemptResult } from './notification-delivery.js';

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
  /**
   * Delivers the alert outbox's notifications. Without one, the monitor still records them with
   * each transition, and leaves them to an evaluator that has one.
   */
  notifier?: AlertNotifier;
  /** Who claims notifications: this process by default (`host:pid:random`). */
  owner?: string;
  /** The first retry's delay of a notification; doubles with each attempt (at most 60 s). Default 1000 ms. */
  retryBaseDelayMs?: number;
  /** Called after every evaluation (metrics, tests). */
  onEvaluated?: (readings: AlertReading[]) => void;
}

/**
 * Evaluates the SLOs of the registered backfills from the store's batch history, on an interval:
 * burn rates per tier and window, alert phases moved by compare-and-set in the store (so that many
 * workers evaluating the same SLO notify once), a notification per webhook on firing and resolved
 * written into the store's outbox in the same transaction as the change, and an optional pause of
 * the backfill's running runs while a page alert fires. With a notifier, it delivers the outbox
 * (its own notifications first, and any another evaluator left behind).
 */
export class SloMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly owner: string;
  private readonly delivery: NotificationDelivery | undefined;
  /** How long a new notification stays claimed by this monitor (to pause runs and deliver it first). */
  private readonly claimMs: number;

  constructor(private readonly options: SloMonitorOptions) {
    this.owner = options.owner ?? processIdentity(options.clock).id;
    const webhooks = new Map(
      this.watched()
        .filter((d) => d.slo!.webhooks.length > 0)
        .map((d) => [d.name, d.slo!.webhooks]),
    );
    this.delivery =
      options.notifier &&
      new NotificationDelivery({
        store: options.sluice.store,
        clock: options.clock,
        logger: options.logger,
        notifier: options.notifier,
        owner: this.owner,
        webhooks,
        ...(options.retryBaseDelayMs !== undefined ? { baseDelayMs: options.retryBaseDelayMs } : {}),
      });
    this.claimMs = claimLeaseMs(webhooks);
  }

  /** Backfills with SLOs; the monitor does nothing without any. */
  watched(): BackfillDefinition<unknown>[] {
    return this.options.sluice.backfills().filter((d) => d.slo !== undefined);
  }

  /** Evaluates at once, then every `evaluateEveryMs` (the shortest of the watched backfills). */
  start(): void {
    const watched = this.watched();
    if (watched.length === 0 || this.timer) return;
    const every = Math.min(...watched.map((d) => d.slo!.evaluateEveryMs));
    let failing = false;
    const tick = () => {
      if (this.stopped || this.running) return;
      this.running = this.evaluate()
        .then(
          () => {
            if (failing) this.options.logger.info({}, 'SLO evaluation works again');
            failing = false;
          },
          (error: unknown) => {
            // Once per outage of the store, not at every tick.
            if (failing) this.options.logger.debug({ err: error }, `SLO evaluation still fails: ${messageOf(error)}`);
            else this.options.logger.warn({ err: error }, `SLO evaluation failed: ${messageOf(error)}`);
            failing = true;
          },
        )
        .finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, every);
    this.timer.unref();
  }

  /** Stops evaluating and delivering in the background; notifications not delivered stay in the store's outbox. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.delivery?.stop();
  }

  /**
   * Delivers the outbox's notifications (of the watched backfills) until none is pending or
   * `budgetMs` has passed, retries included. Resolves to how many are left for the next evaluator
   * (0 without a notifier: such a monitor only records notifications, it never delivers them).
   */
  async flush(budgetMs: number): Promise<number> {
    return (await this.delivery?.drain(budgetMs)) ?? 0;
  }

  /** One evaluation of every watched backfill's objectives. */
  async evaluate(): Promise<AlertReading[]> {
    const readings: AlertReading[] = [];
    for (const definition of this.watched()) readings.push(...(await this.evaluateBackfill(definition.name, definition.slo!)));
    this.options.onEvaluated?.(readings);
    // Deliver what this evaluation recorded, and whatever another evaluator left, without holding up the next evaluation.
    if (!this.stopped) this.delivery?.kick();
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
    return slo.sli.kind === 'batch-duration'
      ? { total: window.batches, bad: window.slowBatches }
      : { total: window.items, bad: window.badItems };
  }

  /**
   * Moves one alert to its next phase. A change to firing or resolved carries its notification into
   * the outbox in the same transaction; the process that wins the compare-and-set pauses runs.
   */
  private async advance(
    backfill: string,
    slo: Slo,
    reading: TierReading,
    stored: AlertRecord | undefined,
    now: number,
    config: SloConfig,
  ): Promise<AlertReading> {
    const { tier } = reading;
    const current: AlertPhase = stored ? { state: stored.state, since: Date.parse(stored.since) } : { state: 'inactive', since: 0 };
    const next = nextPhase(current, reading.burning, tier.forMs, now);
    const summary = summarize(slo, reading);
    const base = {
      backfill,
      slo: slo.name,
      tier: tier.name,
      severity: tier.severity,
      burnLong: reading.burnLong,
      burnShort: reading.burnShort ?? null,
      summary,
    };
    if (next.state === current.state && !stored) return { ...base, state: next.state };
    const announced = next.state !== current.state && (next.state === 'firing' || next.state === 'resolved');
    const notification =
      announced && config.webhooks.length > 0 ? await this.notification(backfill, slo, tier, reading, next, summary) : undefined;
    const notify = notification && { notification, webhooks: config.webhooks.map((w) => w.url), owner: this.owner, leaseMs: this.claimMs };
    const won = await this.options.sluice.store.changeAlert({ ...base, from: current.state, to: next.state, sinceMs: next.since }, notify);
    if (!won || next.state === current.state) return { ...base, state: next.state };
    this.options.logger[next.state === 'firing' ? 'warn' : 'info'](
      { backfill, slo: slo.name, tier: tier.name, state: next.state },
      `SLO alert ${slo.name}/${tier.name} ${next.state}: ${summary}`,
    );
    if (next.state === 'firing' && tier.severity === 'page' && config.pauseOnPage) {
      const paused = await this.pauseRuns(backfill, slo, tier, summary);
      // The notification says which runs were paused; it is still claimed by this process, so nobody has sent it yet.
      if (
        notification &&
        paused.length > 0 &&
        !(await this.options.sluice.store.reviseNotification(this.owner, notification.id, { ...notification, paused }))
      ) {
        this.options.logger.warn(
          { id: notification.id },
          `alert notification ${notification.id} went out before it could list the paused runs (${paused.join(', ')})`,
        );
      }
    }
    return { ...base, state: next.state };
  }

  /** The notification of a change to firing or resolved, as recorded with it (no run paused yet). */
  private async notification(
    backfill: string,
    slo: Slo,
    tier: Tier,
    reading: TierReading,
    phase: AlertPhase,
    summary: string,
  ): Promise<AlertNotification> {
    const { sluice, clock } = this.options;
    const runs = (await sluice.listRuns({ backfill, states: ['running'] })).map((r) => r.id);
    return {
      id: newId('n', clock.now(), clock.random),
      backfill,
      slo: slo.name,
      tier: tier.name,
      severity: tier.severity,
      state: phase.state as 'firing' | 'resolved',
      since: new Date(phase.since).toISOString(),
      burnRate: { threshold: tier.burnRate, long: reading.burnLong, short: reading.burnShort ?? null },
      windows: {
        long: formatDuration(tier.longWindowMs),
        short: tier.shortWindowMs === undefined ? null : formatDuration(tier.shortWindowMs),
      },
      summary,
      runs,
      paused: [],
    };
  }

  /** `pauseOnPage`: pauses the backfill's running runs; returns those it paused. */
  private async pauseRuns(backfill: string, slo: Slo, tier: Tier, summary: string): Promise<string[]> {
    const { sluice } = this.options;
    const paused: string[] = [];
    for (const run of await sluice.listRuns({ backfill, states: ['running'] })) {
      try {
        await sluice.pause(run.id, 'slo', `SLO ${slo.name} ${tier.name} firing: ${summary}`);
        paused.push(run.id);
      } catch (error) {
        this.options.logger.warn({ runId: run.id, err: error }, `could not pause run ${run.id} on the SLO alert: ${messageOf(error)}`);
      }
    }
    return paused;
  }
}

/** `batch-duration burns 15.2× (1h) and 18.0× (5m) of its budget; the tier fires at 14.4×`. */
export function summarize(slo: Slo, reading: TierReading): string {
  const { tier } = reading;
  const long = `${round(reading.burnLong)}× over ${formatDuration(tier.longWindowMs)}`;
  const short =
    reading.burnShort === undefined || tier.shortWindowMs === undefined
      ? ''
      : ` and ${round(reading.burnShort)}× over ${formatDuration(tier.shortWindowMs)}`;
  const what = slo.sli.kind === 'batch-duration' ? `batches over ${slo.sli.thresholdSeconds} s` : 'quarantined items';
  return `${what} burn the error budget at ${long}${short} (${tier.burnRate}× fires)`;
}

function round(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}
