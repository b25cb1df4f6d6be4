import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { cliTextOf, FLAG_OF_OPTION, inCliTerms } from '../../src/cli/error-text.js';
import { EXIT_CODE_OF_ERROR, ExitCode, exitCodeOfError, exitCodeOfOutcome } from '../../src/cli/exit-codes.js';
import { keysOf } from '../../src/core/concurrency.js';
import type { BackfillDefinition } from '../../src/core/definition.js';
import { parseSince } from '../../src/core/since.js';
import {
  ConfigError,
  isSluiceError,
  NotFoundError,
  RunAlreadySucceededError,
  SluiceError,
  SqlPlaceholderError,
  StoreError,
  UsageError,
} from '../../src/index.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function thrown(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (error) {
    assert.ok(isSluiceError(error), `expected a Sluice error, got ${String(error)}`);
    return error;
  }
  assert.fail('expected an error');
}

describe('core errors carry codes; the CLI decides exit codes and flag names', () => {
  it("every error code the source raises has an exit code in the CLI's table", () => {
    const codes = new Set<string>();
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      for (const [, raised, given] of readFileSync(file, 'utf8').matchAll(/(?:super|SluiceError)\('([A-Z_]+)'|code: '([A-Z_]+)'/g))
        codes.add((raised ?? given)!);
    }
    assert.ok(codes.size >= 15, `found only ${codes.size} codes: the scan is broken`);
    assert.deepEqual([...codes].filter((code) => !(code in EXIT_CODE_OF_ERROR)).sort(), []);
  });

  it('maps codes to the documented exit codes', () => {
    assert.equal(exitCodeOfError(new UsageError('x')), ExitCode.usage);
    assert.equal(exitCodeOfError(new ConfigError('x')), ExitCode.usage);
    assert.equal(exitCodeOfError(new NotFoundError('x')), ExitCode.usage);
    assert.equal(exitCodeOfError(new SqlPlaceholderError('SELECT ?', 1, 2)), ExitCode.usage);
    assert.equal(exitCodeOfError(new StoreError('x')), ExitCode.failed);
    assert.equal(exitCodeOfError(new RunAlreadySucceededError({ id: 'r1', backfill: 'b', finishedAt: null })), ExitCode.ok);
    assert.equal(exitCodeOfError(new SluiceError('SOMETHING_NEW', 'x')), ExitCode.failed, 'an unknown code fails');
    assert.equal('exitCode' in new UsageError('x'), false, 'the core error decides no exit code');
  });

  it("maps a run's outcome to its exit code", () => {
    assert.equal(exitCodeOfOutcome({ state: 'succeeded', pausedAsAsked: false }), 0);
    assert.equal(exitCodeOfOutcome({ state: 'paused', pausedAsAsked: true }), 0);
    assert.equal(exitCodeOfOutcome({ state: 'paused', pausedAsAsked: false }), 3);
    assert.equal(exitCodeOfOutcome({ state: 'cancelled', pausedAsAsked: false }), 4);
    assert.equal(exitCodeOfOutcome({ state: 'failed', pausedAsAsked: false }), 1);
    assert.equal(exitCodeOfOutcome({ state: 'running', pausedAsAsked: false }), 5);
  });

  it('a library user reads option names; the CLI prints its flags for them', () => {
    const error = thrown(() => parseSince('yesterdayish', Date.now()));
    assert.equal(error.message, '`since` must be a duration like 7d, 12h or 30m, or an ISO date like 2024-05-01, got "yesterdayish"');
    assert.deepEqual(error.details, { options: ['since'] });
    assert.equal(
      cliTextOf(error).message,
      '--since must be a duration like 7d, 12h or 30m, or an ISO date like 2024-05-01, got "yesterdayish"',
    );

    const succeeded = new RunAlreadySucceededError({ id: 'r1', backfill: 'b', finishedAt: null });
    assert.match(succeeded.hint!, /pass `newRun` to start a new run/);
    assert.match(cliTextOf(succeeded).hint!, /pass --new to start a new run .* unless --reprocess is all/);
    // Only backticked names the CLI has a flag for change; other code stays as it was.
    assert.equal(inCliTerms('`batchSize` and `sluice status r1` and `verify`'), '--batch-size and `sluice status r1` and `verify`');
  });

  it('a hint whose flag takes another form is worded by the CLI (`--param name=<value>`)', () => {
    // keysOf reads only the name and the declared keys.
    const definition = { name: 'keyed', concurrencyKeys: { installationId: { runs: 1 } } } as unknown as BackfillDefinition<unknown>;
    const error = thrown(() => keysOf(definition, {}));
    assert.equal(error.code, 'CONCURRENCY_KEY_MISSING');
    assert.equal(error.hint, 'pass `params`: { installationId: <value> }');
    assert.deepEqual(cliTextOf(error), { message: error.message, hint: 'pass --param installationId=<value>' });
  });

  it('each option the CLI names has a flag of its own', () => {
    const flags = Object.values(FLAG_OF_OPTION);
    assert.equal(new Set(flags).size, flags.length, 'two options map to one flag');
    assert.ok(flags.every((flag) => flag.startsWith('--')));
  });

  it('recognises a Sluice error from another copy of the package by its code and global mark', () => {
    const copy = Object.assign(new Error('from the built package'), { code: 'NOT_FOUND', [Symbol.for('sluice.error')]: true });
    assert.equal(isSluiceError(copy), true);
    assert.equal(isSluiceError(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })), false);
  });

  it('a suggested library call is shown as the CLI command that does the same', () => {
    assert.equal(
      inCliTerms("use `retry('r_1')`; `status('r_1')` shows the queue; list runs with `listRuns()`"),
      'use `sluice retry r_1`; `sluice status r_1` shows the queue; list runs with `sluice list`',
    );
    assert.equal(inCliTerms('use `retry(<run>)` to retry a failed run'), 'use `sluice retry <run>` to retry a failed run');
    assert.equal(
      inCliTerms("check that copy with `storeFileProblems('/tmp/a.db.recovered', 'full')`"),
      'check that copy with `sluice store check --full --db /tmp/a.db.recovered`',
    );
    assert.equal(
      inCliTerms('`somethingElse(1)` stays'),
      '`somethingElse(1)` stays',
      'a call the CLI has no command for is left as written',
    );
  });

  it("a store's hint names its options; the CLI shows --db, and only in the store's errors", () => {
    const store = new StoreError('cannot open store /x', { hint: 'move the file away, or pass `path` with another path' });
    assert.equal(cliTextOf(store).hint, 'move the file away, or pass --db (or SLUICE_DB) with another path');
    const pg = new StoreError('cannot open the PostgreSQL store', { hint: 'check `connectionString` (postgres://…)' });
    assert.equal(cliTextOf(pg).hint, 'check --db (postgres://…)');
    assert.equal(cliTextOf(new UsageError('bad', { hint: 'the `path` of the file' })).hint, 'the `path` of the file');
  });

  it('no message of the core or the stores names a CLI command', () => {
    const found: string[] = [];
    for (const dir of ['core', 'stores']) {
      for (const file of sourceFiles(join(ROOT, 'src', dir))) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/^\s*(\*|\/\/|\/\*)/.test(line)) return; // comments may say which command does the same
            if (/\bsluice [a-z]/.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim().slice(0, 100)}`);
          });
      }
    }
    assert.deepEqual(found, []);
  });

  it('no message of the core, the stores, the sources or the server names a CLI flag', () => {
    const found: string[] = [];
    for (const dir of ['core', 'stores', 'sources', 'server']) {
      for (const file of sourceFiles(join(ROOT, 'src', dir))) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/^\s*(\*|\/\/|\/\*)/.test(line)) return; // comments may say how the CLI spells an option
            if (/[\s'"`(]--[a-z][a-z-]+/.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim().slice(0, 100)}`);
          });
      }
    }
    assert.deepEqual(found, []);
  });
});
