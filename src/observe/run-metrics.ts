import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunHandle } from '../core/run-handle.js';
import { RUN_STATES } from '../core/run-state.js';
import type { PartitionLeases, StoreDatabase } from '../core/store.js';
import type { AlertReading } from '../core/slo/monitor.js';

/** Seed 000's SLO is on 300 s; the buckets reach 600 s so that the p95 is measurable around it. */
export const BATCH_DURATION_BUCKETS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 450, 600];

/**
 * Prometheus metrics of the runs a process executes, fed by the runs' events (never per item).
 * Labels are bounded: the backfill's name, an outcome, a state, a throttle source (the signal or
 * guard's name) — never item keys, run ids or free text.
 */
export class RunMetrics {
  readonly registry: Registry;
  private readonly items: Counter<'backfill' | 'outcome'>;
  private readonly batchDuration: Histogram<'backfill'>;
  private readonly batchSize: Histogram<'backfill'>;
  private readonly runState: Gauge<'backfill' | 'state'>;
  private readonly backlog: Gauge<'backfill'>;
  private readonly eta: Gauge<'backfill'>;
  private readonly oldestPending: Gauge<'backfill'>;
  private readonly throttle: Gauge<'backfill' | 'state' | 'source'>;
  private readonly burnRate: Gauge<'backfill' | 'slo' | 'tier' | 'window'>;
  private readonly alertFiring: Gauge<'backfill' | 'slo' | 'tier' | 'severity'>;

  /**
   * `registry`: the caller's prom-client registry (a service's own `/metrics`), else a registry of
   * its own. `defaultMetrics`: Node's process metrics, by default only on a registry of its own (a
   * service's registry usually has them already). `sloThresholdsSeconds`: batch-duration SLO
   * thresholds, added as histogram buckets so that `le="<threshold>"` exists for the rules.
   */
  constructor(options: { registry?: Registry; defaultMetrics?: boolean; sloThresholdsSeconds?: readonly number[] } = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    this.items = new Counter({
      name: 'sluice_items_total',
      help: 'Items handled, by outcome (processed, skipped, failed, quarantined).',
      labelNames: ['backfill', 'outcome'],
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'sluice_batch_duration_seconds',
      help: 'Time from reading a batch to its committed checkpoint.',
      labelNames: ['backfill'],
      buckets: [...new Set([...BATCH_DURATION_BUCKETS, ...(options.sloThresholdsSeconds ?? [])])].sort((a, b) => a - b),
      registers,
    });
    this.batchSize = new Histogram({
      name: 'sluice_batch_size_items',
      help: 'Items per batch.',
      labelNames: ['backfill'],
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000],
      registers,
    });
    this.runState = new Gauge({
      name: 'sluice_run_state',
      help: 'Runs executing here, by state (1 for the current state).',
      labelNames: ['backfill', 'state'],
      registers,
    });
    this.backlog = new Gauge({
      name: 'sluice_backlog_items',
      help: 'Items left to receive, from the plan (an estimate).',
      labelNames: ['backfill'],
      registers,
    });
    this.eta = new Gauge({
      name: 'sluice_eta_seconds',
      help: 'Seconds to go at the current rate (absent when unknown).',
      labelNames: ['backfill'],
      registers,
    });
    this.oldestPending = new Gauge({
      name: 'sluice_oldest_pending_partition_age_seconds',
      help: 'Age of the oldest partition waiting for a worker.',
      labelNames: ['backfill'],
      registers,
    });
    this.throttle = new Gauge({
      name: 'sluice_throttle_state',
      help: 'The throttle: 1 for its current state (running, slowed, paused) and the source of it.',
      labelNames: ['backfill', 'state', 'source'],
      registers,
    });
    this.burnRate = new Gauge({
      name: 'sluice_slo_burn_rate',
      help: 'Error budget burn rate per SLO alert tier as Sluice evaluates it (window: long or short).',
      labelNames: ['backfill', 'slo', 'tier', 'window'],
      registers,
    });
    this.alertFiring = new Gauge({
      name: 'sluice_slo_alert_firing',
      help: "1 while Sluice's own evaluator has the SLO alert firing.",
      labelNames: ['backfill', 'slo', 'tier', 'severity'],
      registers,
    });
    if (options.defaultMetrics ?? options.registry === undefined) collectDefaultMetrics({ register: this.registry });
  }

  /** Publishes an SLO evaluation's burn rates and alert states. */
  observeSlo(readings: readonly AlertReading[]): void {
    for (const r of readings) {
      this.burnRate.set({ backfill: r.backfill, slo: r.slo, tier: r.tier, window: 'long' }, r.burnLong);
      if (r.burnShort !== null) this.burnRate.set({ backfill: r.backfill, slo: r.slo, tier: r.tier, window: 'short' }, r.burnShort);
      this.alertFiring.set({ backfill: r.backfill, slo: r.slo, tier: r.tier, severity: r.severity }, r.state === 'firing' ? 1 : 0);
    }
  }

  /** Follows a run executing in this process until it ends. */
  watch(handle: RunHandle, store?: StoreDatabase & PartitionLeases): void {
    const backfill = handle.backfill;
    this.setState(backfill, 'running');
    this.setThrottle(backfill, 'running', 'none');
    handle.on('batch', (b) => {
      this.batchDuration.observe({ backfill }, b.durationMs / 1000);
      this.batchSize.observe({ backfill }, b.size);
      for (const outcome of ['processed', 'skipped', 'failed', 'quarantined'] as const) {
        if (b.delta[outcome] > 0) this.items.inc({ backfill, outcome }, b.delta[outcome]);
      }
    });
    handle.on('progress', (p) => {
      if (p.plannedItems !== null) this.backlog.set({ backfill }, Math.max(0, p.plannedItems - p.counts.received));
      if (p.etaSeconds !== null) this.eta.set({ backfill }, p.etaSeconds);
      if (store) void this.refreshOldestPending(store, handle.runId, backfill);
    });
    handle.on('state', (s) => this.setState(backfill, s.to));
    handle.on('throttle', (t) => {
      const state =
        t.kind === 'paused'
          ? 'paused'
          : t.kind === 'slowed'
            ? 'slowed'
            : t.kind === 'resumed' || t.kind === 'recovered'
              ? 'running'
              : undefined;
      // The source is the signal's or guard's name (bounded), never the reason's free text.
      if (state) this.setThrottle(backfill, state, state === 'running' ? 'none' : sourceOf(t.reason));
    });
    void handle.done.then((outcome) => this.setState(backfill, outcome.state)).catch(() => undefined);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private setState(backfill: string, state: string): void {
    for (const s of RUN_STATES) this.runState.set({ backfill, state: s }, s === state ? 1 : 0);
  }

  private setThrottle(backfill: string, state: string, source: string): void {
    this.throttle.reset();
    this.throttle.set({ backfill, state, source }, 1);
  }

  private async refreshOldestPending(store: StoreDatabase & PartitionLeases, runId: string, backfill: string): Promise<void> {
    try {
      // The partitions' times are the store's: measured against its clock, not this process's.
      const [partitions, now] = await Promise.all([store.listPartitions(runId), store.clockNow()]);
      const pending = partitions.filter((p) => p.state === 'pending');
      const oldest = pending.reduce((min, p) => Math.min(min, Date.parse(p.updatedAt)), Number.POSITIVE_INFINITY);
      this.oldestPending.set({ backfill }, Number.isFinite(oldest) ? Math.max(0, (now - oldest) / 1000) : 0);
    } catch {
      // A store hiccup: the gauge keeps its last value.
    }
  }
}

/** `postgres: db connections 83 % ≥ 80 %` → `postgres`; `memory (RSS) …` → `memory`; `event loop lag …` → `event-loop`. */
function sourceOf(reason: string): string {
  if (reason.startsWith('memory') || reason.startsWith('heap')) return 'memory';
  if (reason.startsWith('event loop')) return 'event-loop';
  const colon = reason.indexOf(':');
  const name = colon > 0 ? reason.slice(0, colon) : 'other';
  return /^[A-Za-z0-9_.-]{1,40}$/.test(name) ? name : 'other';
}
