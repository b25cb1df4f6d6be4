import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collect, type CliResult } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/run-tests-at.mjs', import.meta.url));
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Debian's faketime package (libfaketime); CI installs it and sets SLUICE_REQUIRE_FAKETIME=1. */
function faketimeSkip(): string | false {
  if (spawnSync('faketime', ['--version'], { stdio: 'ignore' }).status === 0) return false;
  if (process.env.SLUICE_REQUIRE_FAKETIME === '1') throw new Error('faketime is required (apt-get install -y faketime)');
  return 'faketime not installed (apt-get install -y faketime)';
}

function runScript(args: readonly string[]): Promise<CliResult> {
  return collect(spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The moved clock and zone the script's probe saw, and the real time it started from. */
function probed(stdout: string): { moved: number; zone: string; real: number } {
  const match = /clock moved by -?\d+ s to (\S+) (\S+) \(real (\S+)\)/.exec(stdout);
  assert.ok(match, `no probe line in ${JSON.stringify(stdout)}`);
  return { moved: Date.parse(match[1]!), zone: match[2]!, real: Date.parse(match[3]!) };
}

describe('scripts/run-tests-at.mjs', { skip: faketimeSkip() }, () => {
  it('--at HH:MM moves every process of the run to the nearest such UTC time, in the --tz zone', async () => {
    for (const [at, zone] of [
      ['23:59', 'Pacific/Kiritimati'],
      ['00:30', 'America/Adak'],
      ['11:59', 'UTC'],
    ] as const) {
      const r = await runScript(['--at', at, '--tz', zone, '--probe']);
      assert.equal(r.code, 0, r.stderr);
      const { moved, zone: seen, real } = probed(r.stdout);
      assert.equal(seen, zone);
      // The probe starts a moment after the offset is taken: its clock is a few seconds past HH:MM.
      const [hours, minutes] = at.split(':').map(Number);
      const pastTarget = (((moved - (hours! * 60 + minutes!) * 60_000) % DAY_MS) + DAY_MS) % DAY_MS;
      assert.ok(pastTarget < 2 * 60_000, `${new Date(moved).toISOString()} is not just after ${at} UTC`);
      assert.ok(
        Math.abs(moved - real) <= 12 * HOUR_MS + 60_000,
        `${at} is at most 12 hours from now, moved from ${new Date(real).toISOString()}`,
      );
    }
  });

  it('--at with an ISO instant moves the clock there, however far', async () => {
    const r = await runScript(['--at', '2030-01-01T00:00:00Z', '--probe']);
    assert.equal(r.code, 0, r.stderr);
    const { moved } = probed(r.stdout);
    assert.ok(moved >= Date.parse('2030-01-01T00:00:00Z') && moved < Date.parse('2030-01-01T00:02:00Z'), new Date(moved).toISOString());
  });

  it('refuses bad input with one line that says what to give', async () => {
    for (const [args, message] of [
      [['--tz', 'UTC'], /^run-tests-at: --at is required: a UTC time of day such as --at 23:59/],
      [['--at', '24:00'], /^run-tests-at: --at must be a UTC time of day as HH:MM \(e\.g\. 23:59\) or an ISO instant with a zone/],
      [['--at', '2030-01-01T00:00'], /^run-tests-at: --at must be .* got "2030-01-01T00:00"$/],
      [
        ['--at', '23:59', '--tz', 'Mars/Olympus'],
        /^run-tests-at: --tz must be an IANA time zone such as America\/Adak or Pacific\/Kiritimati, got "Mars\/Olympus"$/,
      ],
      [['--at', '23:59', '--when'], /^run-tests-at: unknown option --when; use --at/],
    ] as const) {
      const r = await runScript(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
