import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { parseDuration } from '../../src/core/since.js';
import { cliTextOf } from '../../src/cli/error-text.js';
import { exitCodeOfError } from '../../src/cli/exit-codes.js';
import { joinNegativeValues, parseParams, parseRunFlags, positiveInteger } from '../../src/cli/options.js';

/** Asserts that `fn` throws a UsageError (exit code 2) that the CLI prints as exactly `message`. */
function usage(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
    assert.equal(exitCodeOfError(error), 2);
    // As the CLI prints it: its flags where the core names an option.
    assert.equal(cliTextOf(error).message, message);
    return true;
  });
}

describe('CLI flags: positiveInteger', () => {
  it('accepts positive integers and passes undefined through', () => {
    assert.equal(positiveInteger('--batch-size', '1'), 1);
    assert.equal(positiveInteger('--batch-size', '1000'), 1000);
    assert.equal(positiveInteger('--batch-size', '007'), 7);
    assert.equal(positiveInteger('--batch-size', undefined), undefined);
  });

  it('refuses everything else with one line naming the flag and the value', () => {
    for (const bad of ['-3', '0', '1.5', 'lots', '', '1e3', '0x10', '+4', '3 batches']) {
      usage(() => positiveInteger('--batch-size', bad), `--batch-size must be a positive integer, got "${bad}"`);
    }
  });

  it('enforces a maximum when given', () => {
    assert.equal(positiveInteger('--concurrency', '256', 256), 256);
    usage(() => positiveInteger('--concurrency', '257', 256), '--concurrency must be at most 256, got "257"');
    usage(
      () => positiveInteger('--max-batches', '99999999999999999999'),
      `--max-batches must be at most ${Number.MAX_SAFE_INTEGER}, got "99999999999999999999"`,
    );
  });
});

describe('CLI flags: parseRunFlags', () => {
  const now = Date.parse('2026-05-01T00:00:00Z');

  it('turns the run options into numbers and keeps --since as given (the engine fixes it at run creation)', () => {
    assert.deepEqual(
      parseRunFlags(
        {
          batchSize: '250',
          concurrency: '4',
          maxBatches: '3',
          since: '7d',
          dryRun: true,
          batchDelay: '2s',
          maxMemory: '512',
          profile: 'moderate',
        },
        now,
        {},
      ),
      {
        maxBatches: 3,
        since: '7d',
        dryRun: true,
        knobs: { batchSize: 250, concurrency: 4, batchDelayMs: 2000, maxMemoryMb: 512 },
        throttleLayers: [
          {
            source: 'command line',
            profile: 'moderate',
            knobs: { batchSize: 250, concurrency: 4, batchDelayMs: 2000, maxMemoryMb: 512 },
            knobSources: {
              batchSize: '--batch-size',
              concurrency: '--concurrency',
              batchDelayMs: '--batch-delay',
              maxMemoryMb: '--max-memory',
            },
          },
        ],
      },
    );
    assert.deepEqual(parseRunFlags({}, now, {}), { maxBatches: undefined, dryRun: false, knobs: {}, throttleLayers: [] });
    assert.equal(parseRunFlags({ batchDelay: '250' }, now, {}).knobs.batchDelayMs, 250, 'a bare number is milliseconds');
    assert.equal(parseRunFlags({ since: '2026-04-01' }, now).since, '2026-04-01');
  });

  it("reads SLUICE_* and seed 002's BACKFILL_* variables, SLUICE_ winning, naming each source", () => {
    const env = {
      BACKFILL_BATCH_SIZE: '40',
      SLUICE_BATCH_SIZE: '50',
      BACKFILL_BATCH_DELAY_MS: '2000',
      BACKFILL_MAX_CONCURRENT: '3',
      BACKFILL_MAX_MEMORY_MB: '256',
      BACKFILL_USE_IDLE: 'true',
    };
    const [layer] = parseRunFlags({}, now, env).throttleLayers;
    assert.deepEqual(layer, {
      source: 'environment',
      knobs: { batchSize: 50, concurrency: 3, maxMemoryMb: 256, batchDelayMs: 2000, maxEventLoopLagMs: 20 },
      knobSources: {
        batchSize: 'SLUICE_BATCH_SIZE',
        concurrency: 'BACKFILL_MAX_CONCURRENT',
        maxMemoryMb: 'BACKFILL_MAX_MEMORY_MB',
        batchDelayMs: 'BACKFILL_BATCH_DELAY_MS',
        maxEventLoopLagMs: 'BACKFILL_USE_IDLE',
      },
    });
    assert.deepEqual(parseRunFlags({}, now, { SLUICE_PROFILE: 'background' }).throttleLayers, [
      { source: 'SLUICE_PROFILE', profile: 'background', knobs: {}, knobSources: {} },
    ]);
    usage(() => parseRunFlags({}, now, { BACKFILL_BATCH_SIZE: 'many' }), 'BACKFILL_BATCH_SIZE must be a positive integer, got "many"');
    usage(
      () => parseRunFlags({}, now, { SLUICE_BATCH_DELAY_MS: '1s' }),
      'SLUICE_BATCH_DELAY_MS must be a number of milliseconds, got "1s"',
    );
    usage(() => parseRunFlags({}, now, { BACKFILL_USE_IDLE: 'maybe' }), 'BACKFILL_USE_IDLE must be true or false, got "maybe"');
    usage(
      () => parseRunFlags({}, now, { SLUICE_PROFILE: 'turbo' }),
      'SLUICE_PROFILE must be one of background, moderate, fast, got "turbo"',
    );
    usage(() => parseRunFlags({ profile: 'slow' }, now, {}), '--profile must be one of background, moderate, fast, got "slow"');
  });

  it('refuses bad values before anything is opened', () => {
    usage(() => parseRunFlags({ batchSize: '-3' }, now), '--batch-size must be a positive integer, got "-3"');
    usage(() => parseRunFlags({ batchSize: '100001' }, now), '--batch-size must be at most 100000, got "100001"');
    usage(() => parseRunFlags({ concurrency: '0' }, now), '--concurrency must be a positive integer, got "0"');
    usage(() => parseRunFlags({ maxBatches: 'lots' }, now), '--max-batches must be a positive integer, got "lots"');
    usage(
      () => parseRunFlags({ since: 'yesterdayish' }, now),
      '--since must be a duration like 7d, 12h or 30m, or an ISO date like 2024-05-01, got "yesterdayish"',
    );
  });

  it('refuses a batch delay over an hour from a flag or the environment, instead of a timer that fires after 1 ms', () => {
    const hint = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof UsageError && /pause the run/.test(e.hint ?? ''));
    usage(
      () => parseRunFlags({ batchDelay: '30d' }, now, {}),
      '--batch-delay must be at most 24d (2147483647 ms, the longest a timer can wait), got "30d"',
    );
    usage(() => parseRunFlags({ batchDelay: '2d' }, now, {}), '--batch-delay must be at most 1h (3600000 ms), got "2d"');
    usage(() => parseRunFlags({ batchDelay: '3000000000' }, now, {}), '--batch-delay must be at most 1h (3600000 ms), got "3000000000"');
    usage(
      () => parseRunFlags({}, now, { SLUICE_BATCH_DELAY_MS: '3000000000' }),
      'SLUICE_BATCH_DELAY_MS must be at most 1h (3600000 ms), got "3000000000"',
    );
    hint(() => parseRunFlags({ batchDelay: '2h' }, now, {}));
    assert.equal(parseRunFlags({ batchDelay: '1h' }, now, {}).knobs.batchDelayMs, 3_600_000, 'the bound itself is allowed');
  });

  it('refuses any duration longer than a timer can wait', () => {
    usage(() => parseDuration('30d', '--lease'), '--lease must be at most 24d (2147483647 ms, the longest a timer can wait), got "30d"');
    assert.equal(parseDuration('24d', '--lease'), 24 * 86_400_000);
  });
});

describe('CLI flags: parseParams', () => {
  it('collects key=value pairs; the value may contain "="', () => {
    assert.equal(parseParams(undefined), undefined);
    assert.equal(parseParams([]), undefined);
    assert.deepEqual(parseParams(['tenant=acme', 'filter=a=b', 'empty=']), { tenant: 'acme', filter: 'a=b', empty: '' });
  });

  it('refuses a pair without a key', () => {
    usage(() => parseParams(['tenant']), '--param must look like key=value, got "tenant"');
    usage(() => parseParams(['=acme']), '--param must look like key=value, got "=acme"');
  });
});

describe('CLI flags: joinNegativeValues', () => {
  it('hands negative-looking values of value flags to validation instead of commander', () => {
    assert.deepEqual(joinNegativeValues(['demo', '--batch-size', '-3']), ['demo', '--batch-size=-3']);
    assert.deepEqual(joinNegativeValues(['demo', '--rows', '-1', '--max-batches', '-2.5']), ['demo', '--rows=-1', '--max-batches=-2.5']);
    assert.deepEqual(joinNegativeValues(['quarantine', 'replay', 'r_1', '--id', '-4']), ['quarantine', 'replay', 'r_1', '--id=-4']);
  });

  it('leaves everything else alone', () => {
    const argv = ['run', 'x', '--batch-size', '5', '--dry-run', '--json', '-h', '--concurrency=2', '--batch-size'];
    assert.deepEqual(joinNegativeValues(argv), argv);
    // A flag that takes no value keeps the next option an option.
    assert.deepEqual(joinNegativeValues(['demo', '--dry-run', '-3']), ['demo', '--dry-run', '-3']);
  });
});
