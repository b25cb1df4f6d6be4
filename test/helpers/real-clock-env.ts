/**
 * The environment without libfaketime (scripts/run-tests-at.mjs moves the clock of every process
 * of a test run through LD_PRELOAD and FAKETIME*). For the third-party programs a test starts —
 * a browser, a private PostgreSQL server — that stand for machines whose clocks Sluice does not
 * control: under libfaketime Chromium's renderers slow to a crawl, and a private PostgreSQL would
 * share the tests' moved clock where the real one (on 5432) keeps the true time.
 */
export function realClockEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name.startsWith('FAKETIME') || name === 'DONT_FAKE_MONOTONIC') continue;
    if (name === 'LD_PRELOAD') {
      const kept = value
        .split(/[: ]+/)
        .filter((lib) => lib !== '' && !lib.includes('faketime'))
        .join(':');
      if (kept !== '') clean[name] = kept;
      continue;
    }
    clean[name] = value;
  }
  return clean;
}
