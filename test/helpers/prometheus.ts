import { spawnSync } from 'node:child_process';

/**
 * Whether Debian's prometheus package (prometheus, promtool) is here. CI installs it and sets
 * SLUICE_REQUIRE_PROMETHEUS=1, so that there a missing binary fails the tests instead of skipping them.
 */
export function prometheusSkip(): string | false {
  const found =
    spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0 &&
    spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
  if (found) return false;
  if (process.env.SLUICE_REQUIRE_PROMETHEUS === '1')
    throw new Error('prometheus and promtool are required (apt-get install -y prometheus)');
  return 'prometheus/promtool not installed (apt-get install -y prometheus)';
}
