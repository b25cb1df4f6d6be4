#!/usr/bin/env node
// Runs the test suite (or the files matching the filters) with the process clock moved to a given
// UTC time of day and in a given time zone, to catch tests and code that depend on the hour, the
// day or the zone. Usage:
//
//   node scripts/run-tests-at.mjs --at 23:59 --tz America/Adak [path-substring ...]
//   node scripts/run-tests-at.mjs --at 2026-12-31T23:59:00Z --tz Pacific/Kiritimati test/unit
//   node scripts/run-tests-at.mjs --at 23:59 --tz America/Adak --probe   (prints the moved clock, runs nothing)
//
// `--at HH:MM` is a UTC time of day: the nearest such instant to now (at most 12 hours away), so
// that the skew it adds against the PostgreSQL server (whose clock is not moved) stays small.
// `--at` with a full ISO instant moves the clock there, however far. The clock keeps running from
// that point in every process of the run (tests and the `sluice` processes they start) through
// libfaketime with a relative offset: `apt-get install -y faketime` (Debian). Timers and the
// monotonic clock are left alone. Build first (`npm run build`): the CLI tests run dist/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const LIBRARY_CANDIDATES = [
  process.env.SLUICE_FAKETIME_LIB,
  `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/faketime/libfaketime.so.1`,
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
].filter(Boolean);
const DAY_MS = 86_400_000;

function fail(message) {
  console.error(`run-tests-at: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { at: undefined, tz: undefined, probe: false, filters: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--probe') options.probe = true;
    else if (arg === '--at' || arg === '--tz') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) fail(`${arg} needs a value, e.g. --at 23:59 or --tz America/Adak`);
      options[arg.slice(2)] = value;
    } else if (arg.startsWith('--')) fail(`unknown option ${arg}; use --at <HH:MM UTC or ISO instant>, --tz <IANA zone> and --probe`);
    else options.filters.push(arg);
  }
  if (options.at === undefined)
    fail('--at is required: a UTC time of day such as --at 23:59, or an ISO instant such as --at 2026-12-31T23:59:00Z');
  return options;
}

/** The instant to start from: the nearest `HH:MM` UTC to `now`, or the given ISO instant. */
function targetInstant(at, now) {
  const timeOfDay = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(at);
  if (timeOfDay) {
    const midnight = Math.floor(now / DAY_MS) * DAY_MS;
    const minute = (Number(timeOfDay[1]) * 60 + Number(timeOfDay[2])) * 60_000;
    const candidates = [midnight - DAY_MS, midnight, midnight + DAY_MS].map((day) => day + minute);
    return candidates.reduce((best, c) => (Math.abs(c - now) < Math.abs(best - now) ? c : best));
  }
  // An instant must say its zone: a bare local time would mean a different instant in every zone.
  const instant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(at) ? Date.parse(at) : NaN;
  if (Number.isNaN(instant))
    fail(`--at must be a UTC time of day as HH:MM (e.g. 23:59) or an ISO instant with a zone (e.g. 2026-12-31T23:59:00Z), got "${at}"`);
  return instant;
}

function checkZone(tz) {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    fail(`--tz must be an IANA time zone such as America/Adak or Pacific/Kiritimati, got "${tz}"`);
  }
}

const options = parseArgs(process.argv.slice(2));
if (options.tz !== undefined) checkZone(options.tz);
const library = LIBRARY_CANDIDATES.find((path) => existsSync(path));
if (!library)
  fail(
    `libfaketime not found (looked in ${LIBRARY_CANDIDATES.join(', ')}); install it with "apt-get install -y faketime" or set SLUICE_FAKETIME_LIB`,
  );

const now = Date.now();
// Already under a moved clock (a test of this script inside a moved run): libfaketime's offset is
// from the real clock, and the one given here replaces the outer one, so it must include it.
const outerSeconds =
  /^[+-]\d+$/.test(process.env.FAKETIME ?? '') && process.env.LD_PRELOAD?.includes('faketime') ? Number(process.env.FAKETIME) : 0;
// Whole seconds (what libfaketime takes), rounded up: the moved clock starts at the target, never before it.
// The nearest HH:MM is taken from the real time (PostgreSQL's), not from an outer moved clock:
// from an outer 23:59, 11:59 is as near one way as the other, but not from the real time.
const realNow = now - outerSeconds * 1000;
const offsetSeconds = Math.ceil((targetInstant(options.at, realNow) - realNow) / 1000);
const env = {
  ...process.env,
  LD_PRELOAD: [library, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  // A relative offset, not a fixed start: every process started during the run (the `sluice`
  // processes of the CLI tests) sees the same moved clock, running at the real rate.
  FAKETIME: `${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}`,
  // Node's timers and performance.now() run on the monotonic clock: moving it breaks nothing the
  // tests look at, but moving it back by hours can make it negative.
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
  ...(options.tz !== undefined ? { TZ: options.tz } : {}),
};
const probe = spawnSync(
  process.execPath,
  ['-e', 'process.stdout.write(new Date().toISOString() + " " + Intl.DateTimeFormat().resolvedOptions().timeZone)'],
  { env, encoding: 'utf8' },
);
if (probe.status !== 0) fail(`node does not start under libfaketime (${library}): ${probe.stderr.trim()}`);
console.log(
  `run-tests-at: clock moved by ${offsetSeconds} s to ${probe.stdout} (real ${new Date(realNow).toISOString()}); PostgreSQL's clock is not moved`,
);
if (options.probe) process.exit(0);

const result = spawnSync(process.execPath, [new URL('run-tests.mjs', import.meta.url).pathname, ...options.filters], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
