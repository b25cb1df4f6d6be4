import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextPhase } from '../../src/core/slo/alert-state.js';
import { burnRate, readTier, windowsOf } from '../../src/core/slo/burn-rate.js';
import { formatDuration, parseDuration } from '../../src/core/slo/duration.js';
import { parseSloConfig } from '../../src/core/slo/slo.js';
import { summarize } from '../../src/core/slo/monitor.js';
import { defineBackfill, iterable } from '../../src/index.js';

const latency = { name: 'latency', sli: { kind: 'batch-duration' as const, thresholdSeconds: 300 }, objective: 0.95 };

describe('SLO configuration', () => {
  it('fills in the SRE workbook tiers, a 28 d period and a 30 s evaluation interval', () => {
    const config = parseSloConfig({ objectives: [latency] });
    const [slo] = config.objectives;
    assert.equal(slo!.periodMs, 28 * 86_400_000);
    assert.deepEqual(
      slo!.tiers.map((t) => [
        t.name,
        t.severity,
        t.burnRate,
        formatDuration(t.longWindowMs),
        t.shortWindowMs && formatDuration(t.shortWindowMs),
      ]),
      [
        ['fast-burn', 'page', 14.4, '1h', '5m'],
        ['medium-burn', 'page', 6, '6h', '30m'],
        ['slow-burn', 'ticket', 1, '3d', '6h'],
      ],
    );
    assert.deepEqual([config.evaluateEveryMs, config.pauseOnPage, config.webhooks], [30_000, false, []]);
  });

  it('gives a webhook 5 attempts of at most 10 s each unless told otherwise', () => {
    const config = parseSloConfig({
      objectives: [latency],
      webhooks: [{ url: 'http://a.test/hook' }, { url: 'http://b.test/hook', attempts: 8, timeout: '2s' }],
    });
    assert.deepEqual(
      config.webhooks.map((w) => [w.url, w.attempts, w.timeoutMs]),
      [
        ['http://a.test/hook', 5, 10_000],
        ['http://b.test/hook', 8, 2_000],
      ],
    );
  });

  it("takes seed 003's single-window tiers and seed 000's sustained 15-minute threshold", () => {
    const config = parseSloConfig({
      objectives: [
        {
          ...latency,
          tiers: [
            { name: 'fast', severity: 'page', burnRate: 14.4, longWindow: '5m' },
            { name: 'slow', severity: 'ticket', burnRate: 3.6, longWindow: '1h' },
            { name: 'p95-over-15m', severity: 'page', burnRate: 1, longWindow: '15m', for: '30m' },
          ],
        },
      ],
    });
    const tiers = config.objectives[0]!.tiers;
    assert.equal(tiers[0]!.shortWindowMs, undefined);
    assert.equal(tiers[2]!.forMs, 30 * 60_000);
    assert.deepEqual(windowsOf(config.objectives[0]!), [5 * 60_000, 15 * 60_000, 3_600_000]);
  });

  it('refuses bad input with the field and what to write', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ objectives: [] }, /slo\.objectives: .*at least one/],
      [{ objectives: [{ ...latency, objective: 95 }] }, /objective must be between 0 and 1/],
      [{ objectives: [{ ...latency, sli: { kind: 'p95' } }] }, /sli must be/],
      [{ objectives: [{ ...latency, sli: { kind: 'batch-duration', thresholdSeconds: -1 } }] }, /thresholdSeconds must be > 0/],
      [
        { objectives: [{ ...latency, tiers: [{ name: 'x', severity: 'page', burnRate: 2, longWindow: '5m', shortWindow: '1h' }] }] },
        /shortWindow \(1h\) must be shorter than longWindow \(5m\)/,
      ],
      [
        { objectives: [{ ...latency, tiers: [{ name: 'x', severity: 'page', burnRate: 2, longWindow: '1 hour' }] }] },
        /longWindow must be a duration like "30s"/,
      ],
      [{ objectives: [latency, latency] }, /two objectives are named "latency"/],
      [{ objectives: [latency], webhooks: [{ url: 'ftp://x' }] }, /webhook url must be an http\(s\) URL/],
      [{ objectives: [latency], webhooks: [{ url: 'http://x', secret: 'a', secretEnv: 'B' }] }, /secret or secretEnv, not both/],
      [
        { objectives: [latency], webhooks: [{ url: 'http://x/a' }, { url: 'http://x/a' }] },
        /^ConfigError: slo webhook http:\/\/x\/a is listed twice; list each URL once$/,
      ],
      [
        { objectives: [latency], webhooks: [{ url: 'http://x', timeout: '10 s' }] },
        /slo webhook http:\/\/x timeout must be a duration like "30s"/,
      ],
      [
        { objectives: [latency], webhooks: [{ url: 'http://x', timeout: '6m' }] },
        /slo webhook http:\/\/x: timeout must be at most "5m", got "6m"/,
      ],
      [{ objectives: [latency], paging: true }, /unknown option "paging"/],
    ];
    for (const [input, message] of bad) assert.throws(() => parseSloConfig(input as never), message, JSON.stringify(input));
  });

  it('is validated with the definition, naming the backfill', () => {
    const source = iterable({ from: () => [{ id: 1 }], cursorOf: (i: { id: number }) => i.id });
    assert.throws(
      () =>
        defineBackfill({
          name: 'scores',
          source,
          key: (i: { id: number }) => i.id,
          process() {},
          slo: { objectives: [{ ...latency, objective: 2 }] },
        }),
      /defineBackfill\("scores"\): slo\.objectives\.0\.objective: objective must be between 0 and 1/,
    );
    const def = defineBackfill({ name: 'scores', source, key: (i: { id: number }) => i.id, process() {}, slo: { objectives: [latency] } });
    assert.equal(def.slo!.objectives[0]!.name, 'latency');
  });

  it('parses and prints one-unit durations', () => {
    assert.equal(parseDuration('90s', 'x'), 90_000);
    assert.equal(parseDuration('3d', 'x'), 3 * 86_400_000);
    assert.equal(formatDuration(90 * 60_000), '90m');
    assert.equal(formatDuration(7 * 86_400_000), '1w');
    assert.throws(() => parseDuration('0m', 'for'), /for must be longer than 0/);
    assert.throws(() => parseDuration('1h30m', 'window'), /window must be a duration/);
  });
});

describe('burn rates', () => {
  const slo = parseSloConfig({ objectives: [latency] }).objectives[0]!;
  const fast = slo.tiers[0]!;

  it('is the bad fraction over the error budget; no events burn nothing', () => {
    assert.ok(Math.abs(burnRate({ total: 100, bad: 5 }, slo) - 1) < 1e-9);
    assert.ok(Math.abs(burnRate({ total: 1000, bad: 720 }, slo) - 14.4) < 1e-9);
    assert.equal(burnRate({ total: 0, bad: 0 }, slo), 0);
  });

  it('fires a tier only when both windows burn at its rate', () => {
    const over = (long: number, short: number) => (w: number) =>
      w === fast.longWindowMs ? { total: 100, bad: long } : { total: 100, bad: short };
    assert.equal(readTier(fast, slo, over(80, 80)).burning, true);
    assert.equal(readTier(fast, slo, over(80, 10)).burning, false, 'the burn stopped: the short window resolves it early');
    assert.equal(readTier(fast, slo, over(10, 80)).burning, false, 'a blip: the long window has not burnt enough budget');
    const reading = readTier(fast, slo, over(80, 90));
    assert.equal(summarize(slo, reading), 'batches over 300 s burn the error budget at 16.0× over 1h and 18.0× over 5m (14.4× fires)');
  });
});

describe('alert phases', () => {
  it('goes inactive → pending → firing → resolved, honouring `for`', () => {
    let phase = nextPhase({ state: 'inactive', since: 0 }, true, 60_000, 1000);
    assert.deepEqual(phase, { state: 'pending', since: 1000 });
    phase = nextPhase(phase, true, 60_000, 30_000);
    assert.deepEqual(phase, { state: 'pending', since: 1000 }, 'still pending before `for` elapsed');
    phase = nextPhase(phase, true, 60_000, 61_000);
    assert.deepEqual(phase, { state: 'firing', since: 61_000 });
    assert.equal(nextPhase(phase, true, 60_000, 99_000), phase);
    phase = nextPhase(phase, false, 60_000, 100_000);
    assert.deepEqual(phase, { state: 'resolved', since: 100_000 });
    assert.deepEqual(nextPhase(phase, false, 60_000, 200_000), phase);
  });

  it('fires at once without `for`, and a pending alert that stops burning goes back to inactive', () => {
    assert.deepEqual(nextPhase({ state: 'resolved', since: 5 }, true, 0, 10), { state: 'firing', since: 10 });
    assert.deepEqual(nextPhase({ state: 'pending', since: 5 }, false, 60_000, 10), { state: 'inactive', since: 10 });
  });
});
