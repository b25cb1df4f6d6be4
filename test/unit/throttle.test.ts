import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { describeKnobs, resolveKnobs } from '../../src/core/throttle/knobs.js';
import { MemoryGuard } from '../../src/core/throttle/memory-guard.js';
import type { HealthSignal, SignalReading } from '../../src/core/throttle/signal.js';
import { Throttle, type ThrottleDecision } from '../../src/core/throttle/throttle.js';

/** A clock whose time moves only when something sleeps. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    random: () => 0.5,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

function scripted(name: string, readings: Array<SignalReading | Error>): HealthSignal & { reads: number } {
  const signal = {
    name,
    reads: 0,
    async read() {
      const next = readings[Math.min(signal.reads, readings.length - 1)]!;
      signal.reads += 1;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return signal;
}

/** A throttle with the adaptive controller's defaults, batches of 400, a 1 s signal interval. */
function adaptiveThrottle(clock: Clock, signals: HealthSignal[], concurrency: number): Throttle {
  return new Throttle({
    knobs: resolveKnobs({ batchSize: 400, concurrency, batchDelayMs: 0 }, []),
    signals,
    signalIntervalMs: 1000,
    adaptive: {},
    clock,
    logger: silentLogger,
    record: async () => {},
  });
}

describe('throttle knobs', () => {
  it('layers a profile, then explicit knobs, later layers winning, and says where each value came from', () => {
    const resolved = resolveKnobs({ batchSize: 500, concurrency: 1, batchDelayMs: 0 }, [
      { source: 'definition', profile: 'moderate', knobs: { batchSize: 800 } },
      { source: 'environment', knobs: { concurrency: 3 }, knobSources: { concurrency: 'BACKFILL_MAX_CONCURRENT' } },
      { source: 'command line', profile: 'background', knobs: { maxMemoryMb: 256 }, knobSources: { maxMemoryMb: '--max-memory' } },
    ]);
    assert.deepEqual(resolved.knobs, { batchSize: 100, concurrency: 1, batchDelayMs: 1000, maxMemoryMb: 256 });
    assert.equal(resolved.profile, 'background');
    assert.equal(
      describeKnobs(resolved),
      'batch size 100 (profile background (command line)) · delay 1000 ms (profile background (command line)) · concurrency 1 (profile background (command line)) · memory limit 256 MB (--max-memory)',
    );
  });
});

describe('memory guard', () => {
  it('stops above the limit and resumes only under 90 % of it', () => {
    let rss = 100 * 1_048_576;
    const guard = new MemoryGuard({ limitMb: 200, read: () => ({ rss, heapUsed: 0 }) });
    assert.equal(guard.check().level, 'ok');
    rss = 250 * 1_048_576;
    assert.deepEqual(guard.check(), { level: 'stop', reason: 'memory (RSS) 250 MB > 200 MB (limit)' });
    rss = 190 * 1_048_576;
    assert.deepEqual(guard.check(), { level: 'stop', reason: 'memory (RSS) 190 MB ≥ 180 MB (90 % of the limit, to resume)' });
    rss = 170 * 1_048_576;
    assert.equal(guard.check().level, 'ok');
  });
});

describe('throttle', () => {
  const knobs = resolveKnobs({ batchSize: 400, concurrency: 2, batchDelayMs: 0 }, []);

  it('pauses while a signal says stop, backing off 1 s, 2 s, 4 s …, then resumes; every change is a decision', async () => {
    const clock = fakeClock();
    const decisions: ThrottleDecision[] = [];
    const db = scripted('postgres', [
      { level: 'stop', reason: 'db connections 83 % ≥ 80 %' },
      { level: 'stop', reason: 'db connections 83 % ≥ 80 %' },
      { level: 'stop', reason: 'db connections 83 % ≥ 80 %' },
      { level: 'ok', reason: 'db connections 41 %' },
    ]);
    const throttle = new Throttle({ knobs, signals: [db], clock, logger: silentLogger, record: async (d) => void decisions.push(d) });
    let polls = 0;
    assert.equal(await throttle.gate({ stopped: () => false, sleep: clock.sleep, poll: async () => void polls++ }), true);
    assert.deepEqual(clock.slept, [1000, 2000, 4000]);
    assert.equal(polls, 3, 'looks for pause and cancel requests while it waits');
    assert.deepEqual(
      decisions.map((d) => [d.kind, d.reason]),
      [
        ['paused', 'postgres: db connections 83 % ≥ 80 %'],
        ['resumed', 'postgres: db connections 41 %'],
      ],
    );
    assert.equal(throttle.status().state, 'running');
  });

  it('lets lanes read ahead only at full speed: not while slowed, delayed or steered by the adaptive controller', async () => {
    const clock = fakeClock();
    const make = (extra: { batchDelayMs?: number; adaptive?: boolean }, signals: HealthSignal[] = []) =>
      new Throttle({
        knobs: resolveKnobs({ batchSize: 400, concurrency: 2, batchDelayMs: extra.batchDelayMs ?? 0 }, []),
        signals,
        signalIntervalMs: 1000,
        ...(extra.adaptive ? { adaptive: {} } : {}),
        clock,
        logger: silentLogger,
        record: async () => {},
      });
    assert.equal(make({}).allowsReadAhead(), true);
    assert.equal(make({ batchDelayMs: 50 }).allowsReadAhead(), false, 'a configured delay between batches');
    assert.equal(make({ adaptive: true }).allowsReadAhead(), false, 'the controller sizes and paces every batch');
    const slowing = make({}, [
      scripted('probe', [
        { level: 'slow', reason: 'p95 240 ms > 200 ms' },
        { level: 'ok', reason: 'p95 90 ms' },
      ]),
    ]);
    await slowing.gate({ stopped: () => false, sleep: clock.sleep });
    assert.equal(slowing.allowsReadAhead(), false, 'slowed by a signal');
    await clock.sleep(1000);
    await slowing.gate({ stopped: () => false, sleep: clock.sleep });
    assert.equal(slowing.allowsReadAhead(), true, 'back at full speed');
  });

  it('closes only once the latency reading in flight has ended, so that none outlives the run', async () => {
    const clock = fakeClock();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    let reading = false;
    const probe: HealthSignal = {
      name: 'probe',
      async read() {
        reads += 1;
        // The sampler's second reading hangs until released (a slow database).
        if (reads === 2) {
          reading = true;
          await held;
          reading = false;
        }
        return { level: 'ok', reason: 'p95 1.0 ms', latencyMs: 1, budgetMs: 2 };
      },
    };
    const throttle = adaptiveThrottle(clock, [probe], 2);
    await throttle.start();
    for (let i = 0; i < 100 && !reading; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reading, true, 'the sampler is in its second reading');
    let closed = false;
    const closing = throttle.close().then(() => (closed = true));
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, false, 'close waits for the reading');
    release();
    await closing;
    assert.equal(reads, 2, 'no reading after close');
  });

  it('with the controller, the first batches wait for the first reading, which the sampler takes one signal at a time, at random intervals, for every gate', async () => {
    const clock = fakeClock(); // random() is 0.5: the next sample after ln 2 × the interval
    let inFlight = 0;
    let mostInFlight = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const timed = (name: string, reading: SignalReading, holdAt?: number, intervalMs?: number): HealthSignal & { reads: number } => {
      const signal = {
        name,
        reads: 0,
        ...(intervalMs !== undefined ? { intervalMs } : {}),
        async read() {
          signal.reads += 1;
          inFlight += 1;
          mostInFlight = Math.max(mostInFlight, inFlight);
          await new Promise((resolve) => setImmediate(resolve));
          if (signal.reads === holdAt) await held; // the sampler's third round waits here
          inFlight -= 1;
          return reading;
        },
      };
      return signal;
    };
    const probe = timed('probe', { level: 'slow', reason: 'p95 240 ms > budget 200 ms', latencyMs: 240, budgetMs: 200 }, 3);
    // An in-process signal read before every batch (as a rate limit is).
    const rateLimit = timed('rate limit', { level: 'ok', reason: '90 of 100 requests left' }, undefined, 0);
    const throttle = adaptiveThrottle(clock, [rateLimit, probe], 4);
    await throttle.start();
    assert.ok(probe.reads >= 1 && rateLimit.reads >= 1, 'start() returned after the first round');
    assert.equal(throttle.concurrency(), 2, 'the first batches run on the lanes the first reading allows (1.4 of 4), not on all 4');
    for (let i = 0; i < 100 && probe.reads < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(probe.reads, 3, 'the sampler is in its third round');
    assert.equal(mostInFlight, 1, 'no signal is read while another is: a probe would time the other as latency');
    assert.deepEqual(
      clock.slept.map((ms) => Math.round(ms)),
      [693, 693],
      'exponential waits around the interval (ln 2 × 1 s for a draw of 0.5)',
    );
    // Gates use the sampler's latency reading however old (one a gate took would come right after
    // its batch); a signal without latency keeps its own interval, here a reading before every batch.
    await clock.sleep(5000);
    for (let i = 0; i < 3; i++) assert.equal(await throttle.gate({ stopped: () => false, sleep: async () => {} }), true);
    assert.equal(probe.reads, 3, 'no gate took a latency reading of its own');
    assert.equal(rateLimit.reads, 6, 'three by the sampler (the third round read it before the probe it waits on), one per gate');
    release();
    await throttle.close();
  });

  it('halves batches while a signal says slow, and restores them when it clears', async () => {
    const clock = fakeClock();
    const decisions: ThrottleDecision[] = [];
    const probe = scripted('probe', [
      { level: 'slow', reason: 'p95 240 ms > 200 ms' },
      { level: 'ok', reason: 'p95 90 ms' },
    ]);
    const throttle = new Throttle({
      knobs,
      signals: [probe],
      signalIntervalMs: 1000,
      clock,
      logger: silentLogger,
      record: async (d) => void decisions.push(d),
    });
    await throttle.gate({ stopped: () => false, sleep: clock.sleep });
    assert.equal(throttle.batchSize(), 200);
    assert.equal(throttle.status().state, 'slowed');
    await throttle.gate({ stopped: () => false, sleep: clock.sleep });
    assert.equal(probe.reads, 1, 'a reading is reused within its interval');
    await clock.sleep(1000);
    await throttle.gate({ stopped: () => false, sleep: clock.sleep });
    assert.equal(throttle.batchSize(), 400);
    assert.deepEqual(
      decisions.map((d) => d.kind),
      ['slowed', 'recovered'],
    );
  });

  it('with the controller, a probe over budget paces the lanes and pauses after batches instead of halving them', async () => {
    const clock = fakeClock();
    const decisions: ThrottleDecision[] = [];
    const probe = scripted('probe', [{ level: 'slow', reason: 'p95 240 ms > budget 200 ms', latencyMs: 240, budgetMs: 200 }]);
    const throttle = new Throttle({
      knobs: resolveKnobs({ batchSize: 400, concurrency: 4, batchDelayMs: 0 }, []),
      signals: [probe],
      signalIntervalMs: 1000,
      adaptive: {},
      clock,
      logger: silentLogger,
      record: async (d) => void decisions.push(d),
    });
    assert.equal(await throttle.gate({ stopped: () => false, sleep: clock.sleep }), true);
    assert.equal(throttle.batchSize(), 400, 'not halved');
    assert.equal(throttle.concurrency(), 2, 'half speed × 0.7 of 4 lanes: 1.4 lane-equivalents, two lanes');
    assert.deepEqual(
      decisions.map((d) => `${d.kind}: ${d.reason}`),
      [
        'adapted: foreground p95 240 ms > budget 200 ms over the last 1: share 1.00 → 0.35, lanes 4 → 2, each busy 70 %',
        'slowed: probe: p95 240 ms > budget 200 ms: the controller paces the lanes on it (share 0.35)',
      ],
    );
    clock.slept.length = 0;
    await throttle.pace(clock.sleep, 700);
    // Each of the two lanes busy 70 %: 300 ms after a 700 ms batch, slept in steps of the signal interval.
    assert.deepEqual(clock.slept, [300]);
  });

  it('a reading that cannot be taken: continue by default, stop when the signal says so', async () => {
    const clock = fakeClock();
    const lenient = new Throttle({
      knobs,
      signals: [scripted('flaky', [new Error('timeout')])],
      clock,
      logger: silentLogger,
      record: async () => {},
    });
    assert.equal(await lenient.gate({ stopped: () => false, sleep: clock.sleep }), true);
    const strict = { ...scripted('strict', [new Error('connection refused')]), onError: 'stop' as const };
    const decisions: ThrottleDecision[] = [];
    let stopped = false;
    const careful = new Throttle({ knobs, signals: [strict], clock, logger: silentLogger, record: async (d) => void decisions.push(d) });
    const gate = careful.gate({
      stopped: () => stopped,
      sleep: async (ms) => {
        await clock.sleep(ms);
        stopped = true;
      },
    });
    assert.equal(await gate, false, 'a stop request ends the wait');
    assert.deepEqual(
      decisions.map((d) => d.reason),
      ['strict: no reading (connection refused); its policy is to stop'],
    );
  });

  it('waits the batch delay after each batch, and applies a retune', async () => {
    const clock = fakeClock();
    const decisions: ThrottleDecision[] = [];
    const throttle = new Throttle({
      knobs: resolveKnobs({ batchSize: 100, concurrency: 1, batchDelayMs: 250 }, []),
      signals: [],
      clock,
      logger: silentLogger,
      record: async (d) => void decisions.push(d),
    });
    await throttle.pace(clock.sleep);
    assert.deepEqual(clock.slept, [250]);
    await throttle.retune({ batchSize: 50, batchDelayMs: 0 }, 'retune by alice');
    assert.equal(throttle.batchSize(), 50);
    await throttle.pace(clock.sleep);
    assert.deepEqual(clock.slept, [250], 'no delay after the retune');
    assert.equal(decisions.at(-1)!.reason, 'retune by alice: batch size 100 → 50, delay 250 → 0 ms');
  });
});

describe("a gradual rollout's ramp is the run's", () => {
  /** The run's ramp as a store would keep it: compare-and-set moves, and the decisions recorded with them. */
  function runRamp(lanes: number) {
    const moves: Array<{ from: number; to: number; reason: string }> = [];
    return {
      moves,
      set: (n: number) => (lanes = n),
      ramp: {
        lanes,
        read: async () => lanes,
        move: async (from: number, to: number, decision: ThrottleDecision) => {
          if (lanes !== from) return false;
          lanes = to;
          moves.push({ from, to, reason: decision.reason });
          return true;
        },
      },
    };
  }

  it("starts where the run's ramp is, steps from where the store says, and records a step only with its move", async () => {
    const run = runRamp(2);
    const decisions: ThrottleDecision[] = [];
    const told: string[] = [];
    const throttle = new Throttle({
      knobs: resolveKnobs({ batchSize: 100, concurrency: 4, batchDelayMs: 0 }, []),
      signals: [],
      clock: fakeClock(),
      logger: silentLogger,
      record: async (d) => void decisions.push(d),
      gradual: { stepBatches: 2, pageAlert: async () => undefined, ramp: run.ramp },
    });
    throttle.onDecision((d) => told.push(d.reason));
    assert.equal(throttle.concurrency(), 2, "a worker joining later starts at the run's ramp, not at one lane");
    // Another worker stepped the ramp to 3 meanwhile: this step goes on from there.
    run.set(3);
    await throttle.afterBatch(100, 10);
    await throttle.afterBatch(100, 10);
    assert.deepEqual(run.moves, [{ from: 3, to: 4, reason: 'raised to 4 lane(s): failures 0.0 % < 1.0 %, signals ok, no fast burn' }]);
    assert.equal(throttle.concurrency(), 4);
    assert.deepEqual(told, [run.moves[0]!.reason], 'the step is told to the listeners');
    assert.deepEqual(decisions, [], 'and recorded by the move, in its transaction, not a second time');
    // Lowered elsewhere (a worker's gate broke): this execution follows.
    throttle.followRamp(1);
    assert.equal(throttle.concurrency(), 1);
  });

  it("a step that loses the race to another worker's leaves the ramp to the winner", async () => {
    const run = runRamp(1);
    const throttle = new Throttle({
      knobs: resolveKnobs({ batchSize: 100, concurrency: 4, batchDelayMs: 0 }, []),
      signals: [],
      clock: fakeClock(),
      logger: silentLogger,
      record: async () => {},
      gradual: { stepBatches: 1, pageAlert: async () => undefined, ramp: { ...run.ramp, move: async () => false } },
    });
    await throttle.afterBatch(100, 10);
    assert.equal(throttle.concurrency(), 1, "not raised on its own: it learns the winner's step at its next checkpoint");
  });
});
