import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineBackfill } from '../../src/core/definition.js';
import { ConfigError, errorClassOf, PermanentError, UsageError } from '../../src/core/errors.js';
import { idempotencyKeyFor } from '../../src/core/idempotency.js';
import { ProgressTracker } from '../../src/core/progress-tracker.js';
import { backoffDelay } from '../../src/core/retry.js';
import { assertTransition, canTransition } from '../../src/core/run-state.js';
import { parseDuration, parseSince } from '../../src/core/since.js';
import { inTimeZone } from '../helpers/time-zone.js';
import type { Source } from '../../src/core/source.js';

const source: Source<{ id: number }> = {
  kind: 'test',
  description: 'test',
  async open() {
    throw new Error('not used');
  },
};

describe('defineBackfill', () => {
  it('fills in defaults', () => {
    const def = defineBackfill({ name: 'a', source, key: (i) => i.id, process: async () => {} });
    assert.equal(def.batchSize, 500);
    assert.equal(def.concurrency, 1);
    assert.equal(def.delivery, 'at-least-once');
    assert.equal(def.dedup, true);
    assert.equal(def.ledgerNamespace, 'a');
    assert.equal(def.maxFailureRatio, 0.01);
    assert.deepEqual(def.retry, { attempts: 3, baseDelayMs: 200, maxDelayMs: 10_000 });
  });

  it('gives idempotent backfills coalesced checkpoints (1 s or 100 batches by default) and no ledger', () => {
    const def = defineBackfill({
      name: 'a',
      source,
      key: (i) => i.id,
      process: async () => {},
      delivery: 'idempotent',
      checkpointEvery: { batches: 10 },
    });
    assert.equal(def.dedup, false);
    assert.deepEqual(def.checkpointEvery, { ms: 1000, batches: 10 });
    assert.equal(defineBackfill({ name: 'a', source, key: (i) => i.id, process: async () => {} }).checkpointEvery, undefined);
  });

  it('turns dedup off by default for transactional backfills', () => {
    const def = defineBackfill({ name: 'a', source, key: (i) => i.id, process: async () => {}, delivery: 'transactional' });
    assert.equal(def.dedup, false);
  });

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['negative batch size', { batchSize: -3 }, /batchSize must be a positive integer, got -3/],
    ['fractional concurrency', { concurrency: 1.5 }, /concurrency must be a positive integer, got 1.5/],
    ['ratio above 1', { maxFailureRatio: 2 }, /maxFailureRatio must be between 0 and 1, got 2/],
    ['bad name', { name: 'has space' }, /name must be/],
    ['unknown option', { batchsize: 10 }, /unknown option "batchsize"/],
    ['bad delivery', { delivery: 'twice' }, /delivery must be "transactional", "at-least-once" or "idempotent", got "twice"/],
    [
      'checkpointEvery without idempotent delivery',
      { delivery: 'at-least-once', checkpointEvery: { ms: 500 } },
      /checkpointEvery is only for delivery: 'idempotent'/,
    ],
    [
      'a checkpoint interval of zero',
      { delivery: 'idempotent', checkpointEvery: { ms: 0 } },
      /checkpointEvery\.ms must be a positive integer, got 0/,
    ],
    ['an unknown checkpointEvery option', { delivery: 'idempotent', checkpointEvery: { items: 5 } }, /unknown option|Unrecognized key/],
    ['missing process', { process: undefined }, /process must be a function/],
    ['bad source', { source: {} }, /source must be a Sluice source/],
    [
      'an adaptive start share under its floor',
      { throttle: { adaptive: { minShare: 0.3, startShare: 0.1 } } },
      /startShare \(0\.1\) must be at least minShare \(0\.3\)/,
    ],
    [
      'an adaptive start share under the default floor',
      { throttle: { adaptive: { startShare: 0.01 } } },
      /startShare \(0\.01\) must be at least minShare \(0\.02\)/,
    ],
    [
      'a batch delay over an hour',
      { throttle: { batchDelayMs: 3_600_001 } },
      /throttle\.batchDelayMs must be at most 3600000 \(1h\), got 3600001/,
    ],
    [
      'a retry delay no timer can wait',
      { retry: { maxDelayMs: 3_000_000_000 } },
      /retry\.maxDelayMs must be at most 2147483647 \(the longest a timer can wait\), got 3000000000/,
    ],
    [
      'a signal interval no timer can wait',
      { throttle: { signalIntervalMs: 2 ** 31 } },
      /throttle\.signalIntervalMs must be at most 2147483647/,
    ],
    [
      'a shortest adaptive batch of no time',
      { throttle: { adaptive: { minBatchMs: 0 } } },
      /throttle\.adaptive\.minBatchMs must be a positive number of ms/,
    ],
    [
      'adaptive batch bounds the wrong way round',
      { throttle: { adaptive: { minBatchSize: 500, maxBatchSize: 100 } } },
      /minBatchSize \(500\) must be at most maxBatchSize \(100\)/,
    ],
  ];
  for (const [label, patch, message] of cases) {
    it(`rejects ${label} with a ConfigError naming it`, () => {
      const input = { name: 'a', source, key: (i: { id: number }) => i.id, process: async () => {}, ...patch };
      assert.throws(
        () => defineBackfill(input as never),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }

  it('requires a key when the source suggests none', () => {
    assert.throws(
      () => defineBackfill({ name: 'a', source, process: async () => {} }),
      new RegExp(`key is required: its source \\(${source.kind}\\) has no key of its own`),
    );
  });
});

describe('run state machine', () => {
  it('allows the documented edges only', () => {
    assert.ok(canTransition('pending', 'running'));
    assert.ok(canTransition('running', 'paused'));
    assert.ok(canTransition('paused', 'running'));
    assert.ok(canTransition('failed', 'pending'));
    assert.ok(!canTransition('succeeded', 'running'));
    assert.ok(!canTransition('cancelled', 'running'));
    assert.ok(!canTransition('pending', 'succeeded'));
    assert.throws(() => assertTransition('r1', 'succeeded', 'paused'), /run r1 is succeeded; it cannot become paused/);
  });
});

describe('parseSince / parseDuration', () => {
  const now = Date.parse('2026-01-10T00:00:00Z');
  it('parses relative windows and ISO dates', () => {
    assert.equal(parseSince('7d', now).toISOString(), '2026-01-03T00:00:00.000Z');
    assert.equal(parseSince('12h', now).toISOString(), '2026-01-09T12:00:00.000Z');
    assert.equal(parseSince('30m', now).toISOString(), '2026-01-09T23:30:00.000Z');
    assert.equal(parseSince('2025-05-01', now).toISOString(), '2025-05-01T00:00:00.000Z');
    assert.equal(parseSince('2025-05-01T12:00:00Z', now).toISOString(), '2025-05-01T12:00:00.000Z');
  });
  it('reads a date or time without a zone as UTC, in any time zone of the process', async () => {
    for (const zone of ['Pacific/Kiritimati', 'America/Adak', 'UTC']) {
      await inTimeZone(zone, () => {
        assert.equal(parseSince('2025-05-01', now).toISOString(), '2025-05-01T00:00:00.000Z', zone);
        assert.equal(parseSince('2025-05-01T12:00', now).toISOString(), '2025-05-01T12:00:00.000Z', zone);
        assert.equal(parseSince('2025-05-01 12:00:30.5', now).toISOString(), '2025-05-01T12:00:30.500Z', zone);
        assert.equal(parseSince('2025-05-01T12:00:00+02:00', now).toISOString(), '2025-05-01T10:00:00.000Z', zone);
      });
    }
  });
  it('rejects nonsense with a usage error that shows the accepted forms', () => {
    assert.throws(() => parseSince('2025-05-01T12', now), UsageError);
    assert.throws(
      () => parseSince('yesterdayish', now),
      (e: unknown) => e instanceof UsageError && /7d, 12h or 30m/.test(e.message),
    );
    assert.throws(() => parseSince('2025-13-45', now), UsageError);
  });
  it('parses durations', () => {
    assert.equal(parseDuration('500ms', 'x'), 500);
    assert.equal(parseDuration('2m', 'x'), 120_000);
    assert.equal(parseDuration('250', 'x'), 250);
    assert.throws(() => parseDuration('soon', '--delay'), /--delay must be a duration/);
  });
});

describe('backoff', () => {
  it('doubles up to the ceiling, with jitter in [50 %, 100 %]', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(
      backoffDelay(policy, 1, () => 1),
      100,
    );
    assert.equal(
      backoffDelay(policy, 3, () => 1),
      400,
    );
    assert.equal(
      backoffDelay(policy, 3, () => 0),
      200,
    );
    assert.equal(
      backoffDelay(policy, 10, () => 1),
      1000,
    );
  });
});

describe('errors and keys', () => {
  it('classifies errors by code, then by name, and PermanentError by its class', () => {
    assert.equal(errorClassOf(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT' })), 'SQLITE_CONSTRAINT');
    assert.equal(errorClassOf(new TypeError('x')), 'TypeError');
    assert.equal(errorClassOf(new PermanentError('x', 'PARSE_ERROR')), 'PARSE_ERROR');
    assert.equal(errorClassOf('a string'), 'Error');
  });
  it('derives idempotency keys deterministically per namespace', () => {
    assert.equal(idempotencyKeyFor('ns', '42'), idempotencyKeyFor('ns', '42'));
    assert.notEqual(idempotencyKeyFor('ns', '42'), idempotencyKeyFor('other', '42'));
    assert.notEqual(idempotencyKeyFor('ns', '42'), idempotencyKeyFor('ns', '43'));
    assert.ok(idempotencyKeyFor('a-very-long-namespace-name-indeed', 'k').length <= 64);
  });
});

describe('ProgressTracker', () => {
  it('computes rate over its window and an ETA from the plan', () => {
    const zero = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };
    const tracker = new ProgressTracker({ ...zero, received: 100, processed: 100 }, 1, 1100, 0, 10_000);
    tracker.add({ ...zero, received: 500, processed: 500 }, 1000);
    tracker.add({ ...zero, received: 500, processed: 500 }, 2000);
    assert.equal(tracker.total().received, 1100);
    assert.equal(tracker.thisExecution().received, 1000);
    assert.equal(tracker.itemsPerSecond(2000), 500);
    assert.equal(tracker.etaSeconds(2000), 0);
    assert.equal(tracker.batches(), 3);
  });

  it('follows totals read from elsewhere (the store, every worker together): rate and ETA over what they grew by', () => {
    const zero = { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };
    const tracker = new ProgressTracker({ ...zero, received: 4000, processed: 4000 }, 40, 10_000, 0, 10_000);
    tracker.observe({ ...zero, received: 5000, processed: 4990, quarantined: 10, failed: 10 }, 50, 1000);
    tracker.observe({ ...zero, received: 6000, processed: 5990, quarantined: 10, failed: 10 }, 60, 2000);
    assert.deepEqual(tracker.total(), { received: 6000, processed: 5990, skipped: 0, failed: 10, quarantined: 10 });
    assert.equal(tracker.batches(), 60);
    assert.equal(tracker.itemsPerSecond(2000), 1000);
    assert.equal(tracker.etaSeconds(2000), 4);
  });
});
