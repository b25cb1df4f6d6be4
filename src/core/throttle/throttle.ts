import type { Clock } from '../clock.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EventLoopLag } from './event-loop-lag.js';
import { describeChanges, describeKnobs, type Knobs, type ResolvedKnobs } from './knobs.js';
import { MemoryGuard, type MemoryGuardOptions } from './memory-guard.js';
import { type HealthSignal, type SignalReading, worstReading } from './signal.js';

/** A throttle decision, recorded with the run and shown by `sluice status`. */
export interface ThrottleDecision {
  kind: 'configured' | 'paused' | 'resumed' | 'slowed' | 'recovered' | 'retuned';
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
  clock: Clock;
  logger: Logger;
  /** Persists a decision (the store); failures are logged, never fatal. */
  record(decision: ThrottleDecision): Promise<void>;
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
  private state: 'running' | 'paused' | 'slowed' = 'running';
  private reason = '';
  private memory: MemoryGuard | undefined;
  private readonly listeners: Array<(decision: ThrottleDecision) => void> = [];

  constructor(private readonly config: ThrottleConfig) {
    this.knobs = { ...config.knobs.knobs };
    this.signalIntervalMs = config.signalIntervalMs ?? 1000;
    this.memory = this.guardFor(this.knobs.maxMemoryMb);
  }

  private guardFor(limitMb: number | undefined): MemoryGuard | undefined {
    return limitMb === undefined ? undefined : new MemoryGuard({ ...this.config.memory, limitMb });
  }

  /** Records the effective configuration (call once, at start). */
  async start(): Promise<void> {
    await this.decide('configured', describeKnobs(this.config.knobs));
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
    return this.state === 'slowed' ? Math.max(1, Math.floor(this.knobs.batchSize / 2)) : this.knobs.batchSize;
  }

  status(): { state: 'running' | 'paused' | 'slowed'; reason: string } {
    return { state: this.state, reason: this.reason };
  }

  /** An operator's live retune (or a schedule's profile change). */
  async retune(knobs: Partial<Knobs>, reason: string): Promise<void> {
    const before = this.settings();
    this.knobs = { ...this.knobs, ...Object.fromEntries(Object.entries(knobs).filter(([, v]) => v !== undefined)) };
    if (this.memory?.limitMb !== this.knobs.maxMemoryMb) this.memory = this.guardFor(this.knobs.maxMemoryMb);
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
        if (this.state !== 'slowed' || this.reason !== reading.reason) {
          const was = this.state;
          this.state = 'slowed';
          this.reason = reading.reason;
          await this.decide('slowed', `${reading.reason}: batches halved to ${this.batchSize()}${was === 'paused' ? ' (resumed from a pause)' : ''}`);
        }
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

  /** After a batch: the configured delay, and a yield to a lagging event loop. */
  async pace(sleep: (ms: number) => Promise<void>): Promise<void> {
    const lagMs = this.config.lag?.yieldMs() ?? 0;
    const waitMs = Math.max(this.knobs.batchDelayMs, lagMs);
    if (waitMs > 0) await sleep(waitMs);
  }

  /** Stops the lag monitor. Signals belong to the definition (and may serve other runs): `Sluice.close()` closes them. */
  async close(): Promise<void> {
    this.config.lag?.close();
  }

  /** The worst of the memory guard and the signals, read at most once per interval for all lanes. */
  /**
   * The worst of the memory guard and the signals. Each signal is read at most once per its
   * interval (its own `intervalMs`, else the throttle's) for all lanes together; the memory guard
   * and in-process signals (`intervalMs: 0`) are read every time, they cost nothing.
   */
  private async read(): Promise<SignalReading & { source?: string }> {
    const readings: Array<SignalReading & { source?: string }> = [];
    if (this.memory) readings.push({ ...this.memory.check(), source: 'memory' });
    readings.push(...(await Promise.all(this.config.signals.map((signal) => this.readSignal(signal)))).filter((r) => r !== undefined));
    return worstReading(readings) as SignalReading & { source?: string };
  }

  private async readSignal(signal: HealthSignal): Promise<SignalReading | undefined> {
    const now = this.config.clock.now();
    const cached = this.cache.get(signal);
    const interval = signal.intervalMs ?? this.signalIntervalMs;
    if (cached && now - cached.at < interval) return cached.value;
    let pending = this.pending.get(signal);
    if (!pending) {
      pending = this.takeReading(signal).finally(() => this.pending.delete(signal));
      this.pending.set(signal, pending);
    }
    const value = await pending;
    this.cache.set(signal, { at: this.config.clock.now(), value });
    return value;
  }

  private async takeReading(signal: HealthSignal): Promise<SignalReading | undefined> {
    try {
      const reading = await signal.read();
      return { level: reading.level, reason: `${signal.name}: ${reading.reason}` };
    } catch (error) {
      const policy = signal.onError ?? 'continue';
      this.config.logger.warn({ signal: signal.name, err: error }, `health signal ${signal.name} could not be read (${policy})`);
      return policy === 'stop' ? { level: 'stop', reason: `${signal.name}: no reading (${messageOf(error)}); its policy is to stop` } : undefined;
    }
  }

  private async decide(kind: ThrottleDecision['kind'], reason: string): Promise<void> {
    const decision: ThrottleDecision = { kind, reason, settings: this.settings() };
    this.config.logger[kind === 'paused' || kind === 'slowed' ? 'warn' : 'info']({ throttle: kind, reason }, `throttle ${kind}: ${reason}`);
    for (const listener of this.listeners) listener(decision);
    try {
      await this.config.record(decision);
    } catch (error) {
      this.config.logger.warn({ err: error }, `could not record the throttle decision: ${messageOf(error)}`);
    }
  }
}
