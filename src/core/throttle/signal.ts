/**
 * A health signal: something outside the backfill that says whether it may go on at full speed
 * (`ok`), should slow down (`slow`), or must wait (`stop`), always with a reason a person on call
 * understands ("db connections 83 % ≥ 80 %").
 */
export type SignalLevel = 'ok' | 'slow' | 'stop';

export interface SignalReading {
  level: SignalLevel;
  reason: string;
  /** A latency signal (a probe) also reports the latency it measured and its budget: the adaptive controller steers lanes on them. */
  latencyMs?: number;
  budgetMs?: number;
}

export interface HealthSignal {
  /** Short name for logs and status, e.g. `postgres`, `probe`, `github-rate-limit`. */
  readonly name: string;
  /** Takes a reading. A thrown error is a reading that could not be taken (see `onError`). */
  read(): Promise<SignalReading>;
  /**
   * What a reading that cannot be taken means: `continue` (the default: a monitoring hiccup must
   * not stop the backfill) or `stop` (no reading, no work: for signals that guard something fragile).
   */
  readonly onError?: 'continue' | 'stop';
  /** How long a reading is reused; default the throttle's `signalIntervalMs`. 0 for in-process signals that cost nothing to read. */
  readonly intervalMs?: number;
  /** Releases what the signal holds (connections). */
  close?(): Promise<void>;
}

const RANK: Record<SignalLevel, number> = { ok: 0, slow: 1, stop: 2 };

/** The most severe of several readings (the first of equals), so that one `stop` stops. */
export function worstReading(readings: readonly SignalReading[]): SignalReading {
  let worst: SignalReading | undefined;
  for (const reading of readings) if (!worst || RANK[reading.level] > RANK[worst.level]) worst = reading;
  if (!worst) return { level: 'ok', reason: 'no guard or signal configured' };
  // All clear: say what was read, so that "resumed" carries the numbers it resumed on.
  return worst.level === 'ok' ? { level: 'ok', reason: readings.map((r) => r.reason).join('; ') } : worst;
}
