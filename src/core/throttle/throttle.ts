import type { Clock } from '../clock.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EventLoopLag } from './event-loop-lag.js';
import { describeChanges, describeKnobs, type Knobs, PROFILES, type ProfileName, type ResolvedKnobs } from './knobs.js';
import { AdaptiveController, type ControllerDecision, type ControllerOptions } from './controller.js';
import { GradualRollout } from './gradual.js';
import { MemoryGuard, type MemoryGuardOptions } from './memory-guard.js';
import { profileAt, type Schedule } from './schedule.js';
import { type HealthSignal, type SignalReading, worstReading } from './signal.js';

/** The longest `close()` waits for a latency reading in flight. */
const CLOSE_WAIT_MS = 5000;

/** A throttle decision, recorded with the run and shown by `sluice status`. */
export interface ThrottleDecision {
  kind: 'configured' | 'paused' | 'resumed' | 'slowed' | 'recovered' | 'retuned' | 'adapted' | 'gradual';
  reason: string;
  settings: Knobs;
}

export interface ThrottleConfig {
  knobs: ResolvedKnobs;
  signals: readonly HealthSignal[];
  /** How long a signal reading is reused before it is taken again. Default 1 s. */
  signalIntervalMs?: number;
  /** How memory is measured (tests inject a reader); the limit is the `maxMemoryMb` knob. */
  memory?: Omit<MemoryGuardOptions, 'limitMb'>;
  lag?: EventLoopLag;
  /** Steer batch size on time per item and lanes on probe latency (see controller.ts). */
  adaptive?: ControllerOptions;
  /** Time-of-day windows: each switches the knobs to its profile, or pauses outside them. */
  schedule?: Schedule;
  clock: Clock;
  logger: Logger;
  /** Persists a decision (the store); failures are logged, never fatal. */
  record(decision: ThrottleDecision): Promise<void>;
  /** Gradual rollout: lanes rise one step at a time while the gates hold. */
  gradual?: { stepBatches?: number; maxFailureRatio?: number; pageAlert: () => Promise<string | undefined>; ramp: RunRamp };
}

/** The run's ramp as the store keeps it, over every worker of the run. */
export interface RunRamp {
  /** The lanes the ramp allows when this execution starts. */
  lanes: number;
  /** The lanes it allows now (null: the rollout was lifted). */
  read(): Promise<number | null>;
  /** Moves the ramp and records the step's decision with it; false when another worker moved it first. */
  move(from: number, to: number, decision: ThrottleDecision): Promise<boolean>;
}

/** Longest wait between two looks while paused by a guard or a signal. */
const MAX_BACKOFF_MS = 30_000;

/**
 * What paces one execution of a run: before each batch it consults the memory guard and the
 * health signals (pausing while one says stop, halving batches while one says slow), and after
 * each batch it waits the configured delay and yields to a lagging event loop. Every change of
 * state is a decision, recorded with its reason.
 */
export class Throttle {
  private knobs: Knobs;
  private readonly signalIntervalMs: number;
  private readonly cache = new Map<HealthSignal, { at: number; value: SignalReading | undefined }>();
  private readonly pending = new Map<HealthSignal, Promise<SignalReading | undefined>>();
  /** Readings not yet fed to the controller (several lanes await the same reading; it counts once). */
  private readonly pendingFresh = new Set<SignalReading>();
  private state: 'running' | 'paused' | 'slowed' = 'running';
  private reason = '';
  private memory: MemoryGuard | undefined;
  private readonly listeners: Array<(decision: ThrottleDecision) => void> = [];

  private readonly controller: AdaptiveController | undefined;
  private readonly gradual: GradualRollout | undefined;
  /** The last combined reading of the guards and signals (a gradual rollout's gate). */
  private lastReading: SignalReading | undefined;
  /** The batch size, lanes and share last recorded as a decision: the controller's every step is not one. */
  private recordedBatch: number;
  private recordedLanes: number;
  private recordedShare = 1;
  private recordedAt = Number.NEGATIVE_INFINITY;
  /** Ends the sampling of latency signals between batches (see `sampleLatency`). */
  private readonly sampling = new AbortController();
  private sampler: Promise<void> | undefined;
  /** While the sampler runs, it alone takes latency readings: a batch's gate uses its latest. */
  private samplerRunning = false;
  /** The profile the schedule last applied. */
  private scheduled: string | undefined;
  /** Yielding to a lagging event loop (recorded when it starts and stops). */
  private lagging = false;
  private announce = false;

  constructor(private readonly config: ThrottleConfig) {
    this.knobs = { ...config.knobs.knobs };
    this.signalIntervalMs = config.signalIntervalMs ?? 1000;
    this.memory = this.guardFor(this.knobs.maxMemoryMb);
    this.controller = config.adaptive
      ? new AdaptiveController({ batchSize: this.knobs.batchSize, concurrency: this.knobs.concurrency }, config.adaptive)
      : undefined;
    this.recordedBatch = this.knobs.batchSize;
    this.recordedLanes = this.concurrency();
    this.gradual = config.gradual
      ? new GradualRollout(this.knobs.concurrency, config.gradual.stepBatches, config.gradual.maxFailureRatio, config.gradual.ramp.lanes)
      : undefined;
  }

  /** Whether `pace` or `afterBatch` has anything to do (the hot path skips them otherwise). */
  paces(): boolean {
    return this.knobs.batchDelayMs > 0 || this.config.lag !== undefined || this.controller !== undefined || this.gradual !== undefined;
  }

  /** Lanes to run now: the knob, or the controller's (paced on the foreground's latency), and no more than the rollout's step. */
  concurrency(): number {
    const lanes = this.controller?.concurrency ?? this.knobs.concurrency;
    return this.gradual ? Math.min(lanes, this.gradual.concurrency) : lanes;
  }

  /** After a batch: the adaptive controller learns its time per item; a gradual rollout counts the step. */
  async afterBatch(size: number, durationMs: number, quarantined = 0): Promise<void> {
    if (this.controller) await this.adapted(this.controller.observeBatch(size, durationMs));
    if (this.gradual?.observe(size, quarantined)) await this.stepRamp(this.gradual, this.config.gradual!);
  }

  /**
   * Ends a step of the gradual rollout: judges the gates from where the run's ramp is now (any
   * worker may have moved it), and moves it in the store, compare-and-set. A worker that loses
   * the race keeps the winner's step (it learns it at its next checkpoint).
   */
  private async stepRamp(gradual: GradualRollout, config: NonNullable<ThrottleConfig['gradual']>): Promise<void> {
    const stored = await config.ramp.read().catch((error: unknown) => {
      this.config.logger.warn(
        { err: error },
        `could not read the gradual rollout's ramp: ${messageOf(error)}; the step is judged again later`,
      );
      return undefined;
    });
    if (stored === undefined || stored === null) return;
    gradual.follow(stored);
    const reading = this.lastReading;
    const step = gradual.step({
      signal: reading?.level ?? 'ok',
      signalReason: reading?.reason ?? '',
      pageAlert: await config.pageAlert().catch(() => undefined),
    });
    if (step.concurrency === stored) {
      await this.decide('gradual', step.reason);
      return;
    }
    const decision: ThrottleDecision = { kind: 'gradual', reason: step.reason, settings: this.settings() };
    const moved = await config.ramp.move(stored, step.concurrency, decision).catch((error: unknown) => {
      this.config.logger.warn({ err: error }, `could not move the gradual rollout's ramp: ${messageOf(error)}`);
      return false;
    });
    if (!moved) {
      gradual.follow(stored);
      return;
    }
    this.tell(decision);
  }

  /**
   * Records a controller decision when it matters: the lanes changed (at most once a second), or
   * the batch size or the foreground share doubled or halved since the last one recorded and 10 s
   * have passed (the controller steps at every batch and every probe reading; the log must stay
   * readable).
   */
  private async adapted(decision: ControllerDecision | undefined): Promise<void> {
    if (!decision || !this.controller) return;
    const now = this.config.clock.now();
    const share = this.controller.share;
    const moved = (ratio: number) => ratio >= 2 || ratio <= 0.5;
    const lanesChanged = decision.concurrency !== this.recordedLanes;
    const due = lanesChanged
      ? now - this.recordedAt >= 1000
      : (moved(decision.batchSize / this.recordedBatch) || moved(share / this.recordedShare)) && now - this.recordedAt >= 10_000;
    if (!due) return;
    this.recordedBatch = decision.batchSize;
    this.recordedLanes = decision.concurrency;
    this.recordedShare = share;
    this.recordedAt = now;
    await this.decide('adapted', decision.reason);
  }

  private guardFor(limitMb: number | undefined): MemoryGuard | undefined {
    return limitMb === undefined ? undefined : new MemoryGuard({ ...this.config.memory, limitMb });
  }

  /**
   * Arms the record of the effective configuration: it is written before the first batch, so
   * that a worker joining a run only to find nothing to claim (it looks every few seconds) leaves
   * no trace. With the controller, it also waits for the signals' first reading: the first batches
   * then start on as many lanes as the foreground allows, not on every configured lane at full
   * speed (a burst the foreground pays for before the first reading could say so).
   */
  async start(): Promise<void> {
    this.announce = true;
    if (this.controller && this.config.signals.length > 0 && !this.sampling.signal.aborted && !this.sampler) {
      let firstRead!: () => void;
      const firstRound = new Promise<void>((resolve) => {
        firstRead = resolve;
      });
      this.sampler = this.sampleLatency(firstRead)
        .catch((error: unknown) => this.config.logger.warn({ err: error }, `sampling the health signals failed: ${messageOf(error)}`))
        .finally(firstRead);
      await firstRound;
    }
  }

  /**
   * With the controller, signals are read by a sampler, not only before batches: a probe read only
   * by a lane between its batches would always find the database just after that lane's commit.
   * Sampling at random times (see `nextSampleInMs`) reads the foreground the way its own requests
   * arrive; `firstRead` is called after the first round. It stops when no signal reports a latency
   * (nothing to steer on) and when the throttle closes.
   */
  private async sampleLatency(firstRead: () => void): Promise<void> {
    this.samplerRunning = true;
    try {
      while (!this.sampling.signal.aborted) {
        // One signal at a time: a probe timed while another signal's queries run beside it would
        // measure them as the foreground's latency.
        const readings: Array<SignalReading | undefined> = [];
        for (const signal of this.config.signals) readings.push(await this.readSignal(signal, true));
        firstRead();
        if (!readings.some((r) => r?.latencyMs !== undefined) && readings.every((r) => r !== undefined)) return;
        await this.config.clock.sleep(this.nextSampleInMs(), this.sampling.signal);
      }
    } finally {
      this.samplerRunning = false;
    }
  }

  /**
   * The wait before the next sample: random, exponentially distributed around the signal interval
   * (at most 3 × it). Readings at a fixed interval lock onto the lanes' own rhythm (a batch and
   * its pause also take about one interval) and would keep reading the database at the same
   * moment of it, say just after each commit; random arrivals see the foreground as its own
   * requests do, on average over the whole cycle.
   */
  private nextSampleInMs(): number {
    const draw = this.config.clock.random();
    return Math.min(3, -Math.log(1 - Math.min(draw, 0.999_999))) * this.signalIntervalMs;
  }

  /** Calls `listener` with every decision (the execution turns them into events). */
  onDecision(listener: (decision: ThrottleDecision) => void): void {
    this.listeners.push(listener);
  }

  /** The effective configuration, with where each value came from. */
  describe(): string {
    return describeKnobs(this.config.knobs);
  }

  settings(): Knobs {
    return { ...this.knobs };
  }

  /** The batch size for the next batch: halved while a signal says slow. */
  batchSize(): number {
    if (this.controller) return this.controller.batchSize;
    return this.state === 'slowed' ? Math.max(1, Math.floor(this.knobs.batchSize / 2)) : this.knobs.batchSize;
  }

  /**
   * Whether a lane may read its next batch while the current one commits: only at full speed.
   * Slowed, paused, delayed or steered by the controller, the backfill is meant to be gentle, and a
   * read ahead would add load the throttle does not count (and sizes may change between batches).
   */
  allowsReadAhead(): boolean {
    return this.state === 'running' && this.knobs.batchDelayMs === 0 && !this.lagging && this.controller === undefined;
  }

  status(): { state: 'running' | 'paused' | 'slowed'; reason: string } {
    return { state: this.state, reason: this.reason };
  }

  /** The run's ramp moved (another worker stepped it): this execution's lanes follow. */
  followRamp(lanes: number | null): void {
    if (lanes !== null) this.gradual?.follow(lanes);
  }

  /** An operator's live retune (or a schedule's profile change). */
  async retune(knobs: Partial<Knobs>, reason: string): Promise<void> {
    const before = this.settings();
    this.knobs = { ...this.knobs, ...Object.fromEntries(Object.entries(knobs).filter(([, v]) => v !== undefined)) };
    if (this.memory?.limitMb !== this.knobs.maxMemoryMb) this.memory = this.guardFor(this.knobs.maxMemoryMb);
    this.controller?.retune({
      ...(knobs.batchSize !== undefined ? { batchSize: knobs.batchSize } : {}),
      ...(knobs.concurrency !== undefined ? { concurrency: knobs.concurrency } : {}),
    });
    if (knobs.concurrency !== undefined) this.gradual?.setMax(knobs.concurrency);
    this.cache.clear();
    const changes = describeChanges(before, this.knobs);
    if (changes) await this.decide('retuned', `${reason}: ${changes}`);
  }

  /**
   * Waits until the guards and signals let a batch start. Returns false when `stopped()` became
   * true meanwhile (a pause or cancel request, which the caller honours). While waiting it looks
   * again after 1 s, 2 s, 4 s … (at most 30 s), asking for a garbage collection when memory is
   * the reason, and calls `poll` so that the caller can notice requests made elsewhere.
   */
  async gate(options: { stopped: () => boolean; sleep: (ms: number) => Promise<void>; poll?: () => Promise<void> }): Promise<boolean> {
    let backoffMs = 1000;
    if (this.announce) {
      this.announce = false;
      await this.decide('configured', describeKnobs(this.config.knobs));
    }
    // Nothing to consult: the per-batch hot path stays free of readings.
    if (!this.memory && this.config.signals.length === 0 && !this.config.schedule) return !options.stopped();
    for (;;) {
      if (options.stopped()) return false;
      const reading = await this.read();
      if (reading.level === 'stop') {
        if (this.state !== 'paused' || this.reason !== reading.reason) await this.decide('paused', reading.reason);
        this.state = 'paused';
        this.reason = reading.reason;
        if (this.memory && reading.source === 'memory' && this.memory.collect()) {
          this.config.logger.info({ reason: reading.reason }, 'collected garbage while paused for memory');
        }
        await options.sleep(backoffMs);
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
        this.cache.clear(); // look again now, not at the next interval
        await options.poll?.();
        continue;
      }
      if (reading.level === 'slow') {
        // A latency over budget is not halved on: the controller already steers on the latency
        // itself. Any other slow reading may halve again, once per batch observed.
        const steered = this.controller !== undefined && reading.latencyMs !== undefined;
        if (this.controller && !steered) await this.adapted(this.controller.observeSlow(reading.reason));
        // A probe's reason changes with every reading: while steered, only entering the state is a
        // decision (the controller records how it answers).
        if (this.state !== 'slowed' || (!steered && this.reason !== reading.reason)) {
          const was = this.state;
          this.state = 'slowed';
          this.reason = reading.reason;
          // After the state changed: the halved size is what batchSize() gives while slowed.
          const answer = steered
            ? `the controller paces the lanes on it (share ${this.controller!.share.toFixed(2)})`
            : `batches halved to ${this.batchSize()}`;
          await this.decide('slowed', `${reading.reason}: ${answer}${was === 'paused' ? ' (resumed from a pause)' : ''}`);
        }
        this.reason = reading.reason;
        return true;
      }
      if (this.state !== 'running') {
        const kind = this.state === 'paused' ? 'resumed' : 'recovered';
        this.state = 'running';
        this.reason = reading.reason;
        await this.decide(kind, reading.reason);
      }
      return true;
    }
  }

  /**
   * After a batch: the configured delay, a yield to a lagging event loop, and the controller's
   * pause for the foreground (a lane busy only its share of the time). That pause is slept in
   * steps of the signal interval and shortened as the share grows meanwhile.
   */
  async pace(sleep: (ms: number) => Promise<void>, batchMs = 0): Promise<void> {
    const lagMs = this.config.lag?.yieldMs() ?? 0;
    if (lagMs > 0 !== this.lagging) {
      this.lagging = lagMs > 0;
      const limit = this.knobs.maxEventLoopLagMs;
      await this.decide(
        this.lagging ? 'slowed' : 'recovered',
        this.lagging
          ? `event loop lag p99 ${lagMs} ms > ${limit} ms: yielding ${lagMs} ms between batches`
          : `event loop lag back under ${limit} ms`,
      );
    }
    const waitMs = Math.max(this.knobs.batchDelayMs, lagMs);
    if (waitMs > 0) await sleep(waitMs);
    if (!this.controller) return;
    const started = this.config.clock.now();
    for (;;) {
      const leftMs = this.controller.delayAfter(batchMs) - waitMs - (this.config.clock.now() - started);
      if (leftMs <= 0) return;
      const stepMs = Math.min(leftMs, this.signalIntervalMs);
      const stepStarted = this.config.clock.now();
      await sleep(stepMs);
      // A sleep cut short is a stop request (or a test's clock that does not move): the pause ends.
      if (this.config.clock.now() - stepStarted < stepMs / 2) return;
    }
  }

  /**
   * Stops the latency sampling (waiting for a reading in flight, so that none outlives the run, but
   * no more than 5 s of wall time for a signal that never answers) and the lag monitor. Signals
   * belong to the definition (and may serve other runs): `Sluice.close()` closes them.
   */
  async close(): Promise<void> {
    this.sampling.abort();
    this.config.lag?.close();
    if (!this.sampler) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.sampler, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS).unref()))]);
    clearTimeout(timer);
  }

  /**
   * The worst of the memory guard and the signals. Each signal is read at most once per its
   * interval (its own `intervalMs`, else the throttle's) for all lanes together; the memory guard
   * and in-process signals (`intervalMs: 0`) are read every time, they cost nothing.
   */
  private async read(): Promise<SignalReading & { source?: string }> {
    const readings: Array<SignalReading & { source?: string }> = [];
    const scheduled = await this.followSchedule();
    if (scheduled) readings.push(scheduled);
    if (this.memory) readings.push({ ...this.memory.check(), source: 'memory' });
    readings.push(...(await Promise.all(this.config.signals.map((signal) => this.readSignal(signal)))).filter((r) => r !== undefined));
    const worst = worstReading(readings) as SignalReading & { source?: string };
    this.lastReading = worst;
    return worst;
  }

  /**
   * Applies the schedule: entering a window switches the knobs to its profile (a decision); outside
   * every window with `otherwise: 'paused'`, returns a stop reading until the next window opens.
   */
  private async followSchedule(): Promise<SignalReading | undefined> {
    const schedule = this.config.schedule;
    if (!schedule) return undefined;
    const now = profileAt(schedule, new Date(this.config.clock.now()));
    if (now.profile === 'paused') {
      this.scheduled = 'paused';
      return {
        level: 'stop',
        reason: `schedule: outside its windows (${schedule.windows.map((w) => `${w.label.split(' ')[0]} ${w.profile}`).join(', ')}, ${schedule.timeZone})`,
      };
    }
    if (now.profile !== this.scheduled) {
      this.scheduled = now.profile;
      await this.retune(
        { ...PROFILES[now.profile as ProfileName] },
        `schedule: ${now.window === 'outside the windows' ? 'outside its windows' : now.window}, profile ${now.profile}`,
      );
    }
    return undefined;
  }

  private async readSignal(signal: HealthSignal, sampled = false): Promise<SignalReading | undefined> {
    const now = this.config.clock.now();
    const cached = this.cache.get(signal);
    const interval = signal.intervalMs ?? this.signalIntervalMs;
    // The sampler reads at its own (random) times, whatever the reading's age.
    if (cached && !sampled && now - cached.at < interval) return cached.value;
    // A latency reading is the sampler's to keep fresh: a gate taking one itself would read just
    // after its lane's batch, the moment the batch harms the foreground most, and bias the
    // controller. Other signals (a rate limit read before every batch) keep their own interval.
    if (cached && !sampled && this.samplerRunning && cached.value?.latencyMs !== undefined) return cached.value;
    let pending = this.pending.get(signal);
    if (!pending) {
      pending = this.takeReading(signal).finally(() => this.pending.delete(signal));
      this.pending.set(signal, pending);
    }
    const value = await pending;
    if (!cached || cached.value !== value) {
      this.cache.set(signal, { at: this.config.clock.now(), value });
      // A fresh latency reading: the controller steers the lanes and their pause on it.
      if (this.controller && value?.latencyMs !== undefined && value.budgetMs !== undefined && this.pendingFresh.delete(value)) {
        await this.adapted(this.controller.observeProbe(value.latencyMs, value.budgetMs));
      }
    }
    return value;
  }

  private async takeReading(signal: HealthSignal): Promise<SignalReading | undefined> {
    try {
      const reading = await signal.read();
      const value: SignalReading = { ...reading, reason: `${signal.name}: ${reading.reason}` };
      this.pendingFresh.add(value);
      return value;
    } catch (error) {
      const policy = signal.onError ?? 'continue';
      this.config.logger.warn({ signal: signal.name, err: error }, `health signal ${signal.name} could not be read (${policy})`);
      return policy === 'stop'
        ? { level: 'stop', reason: `${signal.name}: no reading (${messageOf(error)}); its policy is to stop` }
        : undefined;
    }
  }

  /** Logs a decision and tells the listeners (recording it is the caller's). */
  private tell(decision: ThrottleDecision): void {
    const { kind, reason } = decision;
    // `event`: the record mirrors the run's `throttle` event; a host that prints the events drops it.
    this.config.logger[kind === 'paused' || kind === 'slowed' ? 'warn' : 'info'](
      { event: 'throttle', throttle: kind, reason },
      `throttle ${kind}: ${reason}`,
    );
    for (const listener of this.listeners) listener(decision);
  }

  private async decide(kind: ThrottleDecision['kind'], reason: string): Promise<void> {
    const decision: ThrottleDecision = { kind, reason, settings: this.settings() };
    this.tell(decision);
    try {
      await this.config.record(decision);
    } catch (error) {
      this.config.logger.warn({ err: error }, `could not record the throttle decision: ${messageOf(error)}`);
    }
  }
}
