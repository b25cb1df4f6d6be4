import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../src/core/clock.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { PROFILE_NAMES, resolveKnobs } from '../../src/core/throttle/knobs.js';
import { parseSchedule, profileAt } from '../../src/core/throttle/schedule.js';
import { Throttle, type ThrottleDecision } from '../../src/core/throttle/throttle.js';
import { defineBackfill, iterable } from '../../src/index.js';

const berlin = parseSchedule(
  { timeZone: 'Europe/Berlin', windows: [{ from: '02:00', to: '06:00', profile: 'fast' }], otherwise: 'background' },
  PROFILE_NAMES,
);

describe('schedules', () => {
  it("picks the window's profile on the zone's wall clock, and the fallback outside", () => {
    // 01:30 UTC in January is 02:30 in Berlin (UTC+1): inside the window.
    assert.deepEqual(profileAt(berlin, new Date('2026-01-15T01:30:00Z')), { profile: 'fast', window: '02:00–06:00 Europe/Berlin' });
    assert.deepEqual(profileAt(berlin, new Date('2026-01-15T05:30:00Z')), { profile: 'background', window: 'outside the windows' });
    // The same instant in UTC is outside a UTC window of the same hours.
    const utc = parseSchedule(
      { timeZone: 'UTC', windows: [{ from: '02:00', to: '06:00', profile: 'fast' }], otherwise: 'paused' },
      PROFILE_NAMES,
    );
    assert.equal(profileAt(utc, new Date('2026-01-15T01:30:00Z')).profile, 'paused');
  });

  it('follows daylight saving time: in July Berlin is UTC+2', () => {
    assert.equal(profileAt(berlin, new Date('2026-07-15T00:30:00Z')).profile, 'fast'); // 02:30 CEST
    assert.equal(profileAt(berlin, new Date('2026-07-15T04:30:00Z')).profile, 'background'); // 06:30 CEST
    // 2026-10-25 03:00 CEST falls back to 02:00 CET: 01:30 UTC is 02:30 CET, still in the window.
    assert.equal(profileAt(berlin, new Date('2026-10-25T01:30:00Z')).profile, 'fast');
  });

  it('windows may wrap midnight', () => {
    const night = parseSchedule(
      { timeZone: 'UTC', windows: [{ from: '22:00', to: '02:00', profile: 'fast' }], otherwise: 'moderate' },
      PROFILE_NAMES,
    );
    assert.equal(profileAt(night, new Date('2026-01-15T23:59:00Z')).profile, 'fast');
    assert.equal(profileAt(night, new Date('2026-01-16T01:59:00Z')).profile, 'fast');
    assert.equal(profileAt(night, new Date('2026-01-16T02:00:00Z')).profile, 'moderate');
  });

  it('refuses bad schedules with a message naming what is wrong', () => {
    const bad = (input: unknown, message: RegExp) =>
      assert.throws(
        () => parseSchedule(input as never, PROFILE_NAMES),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    bad(
      { timeZone: 'Mars/Olympus', windows: [{ from: '02:00', to: '06:00', profile: 'fast' }], otherwise: 'paused' },
      /unknown time zone "Mars\/Olympus"/,
    );
    bad(
      { timeZone: 'UTC', windows: [{ from: '2am', to: '06:00', profile: 'fast' }], otherwise: 'paused' },
      /windows\[0\]\.from must be a time of day as HH:MM/,
    );
    bad(
      { timeZone: 'UTC', windows: [{ from: '02:00', to: '06:00', profile: 'turbo' }], otherwise: 'paused' },
      /windows\[0\]\.profile must be one of background, moderate, fast, got "turbo"/,
    );
    bad(
      {
        timeZone: 'UTC',
        windows: [
          { from: '02:00', to: '06:00', profile: 'fast' },
          { from: '05:00', to: '07:00', profile: 'moderate' },
        ],
        otherwise: 'paused',
      },
      /02:00–06:00 UTC and 05:00–07:00 UTC overlap/,
    );
    bad({ timeZone: 'UTC', windows: [], otherwise: 'paused' }, /at least one/);
    // Through defineBackfill, the error names the backfill.
    assert.throws(
      () =>
        defineBackfill({
          name: 'nightly',
          source: iterable({ from: () => [], cursorOf: () => null }),
          key: () => 'k',
          process() {},
          throttle: { schedule: { timeZone: 'Nowhere', windows: [], otherwise: 'paused' } },
        }),
      /defineBackfill\("nightly"\): throttle\.schedule: unknown time zone "Nowhere"/,
    );
  });

  it('drives the throttle: a window switches to its profile, outside it pauses until the next window', async () => {
    let now = Date.parse('2026-01-15T00:59:00Z'); // 01:59 in Berlin
    const clock: Clock = { now: () => now, random: () => 0.5, sleep: async (ms) => void (now += ms) };
    const nightly = parseSchedule(
      { timeZone: 'Europe/Berlin', windows: [{ from: '02:00', to: '06:00', profile: 'fast' }], otherwise: 'paused' },
      PROFILE_NAMES,
    );
    const decisions: ThrottleDecision[] = [];
    const throttle = new Throttle({
      knobs: resolveKnobs({ batchSize: 100, concurrency: 1, batchDelayMs: 0 }, []),
      signals: [],
      schedule: nightly,
      clock,
      logger: silentLogger,
      record: async (d) => void decisions.push(d),
    });
    assert.equal(await throttle.gate({ stopped: () => false, sleep: clock.sleep }), true);
    assert.deepEqual(
      decisions.map((d) => d.kind),
      ['paused', 'retuned', 'resumed'],
    );
    assert.match(decisions[0]!.reason, /^schedule: outside its windows \(02:00–06:00 fast, Europe\/Berlin\)$/);
    assert.equal(decisions[1]!.reason, 'schedule: 02:00–06:00 Europe/Berlin, profile fast: batch size 100 → 2000, concurrency 1 → 8');
    assert.ok(now >= Date.parse('2026-01-15T01:00:00Z'), 'it waited for the window');
    assert.equal(throttle.batchSize(), 2000);
  });
});
