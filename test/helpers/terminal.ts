import { spawnSync } from 'node:child_process';
import { SLUICE_BIN } from './cli.js';

/**
 * Why terminal tests cannot run here (util-linux `script` gives the CLI a pseudo-terminal), or
 * undefined when they can.
 */
export function terminalSkip(): string | undefined {
  if (process.platform !== 'linux') return 'needs util-linux script (Linux)';
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 && /util-linux/.test(probe.stdout) ? undefined : 'needs util-linux script';
}

/** Runs `sluice ...args` on a pseudo-terminal (stdout and stderr both on it) and returns what it printed. */
export function runInTerminal(args: readonly string[], options: { cwd: string }): { code: number | null; output: string } {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, SLUICE_BIN, ...args].map(quote).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, COLUMNS: '200', TERM: 'xterm' };
  delete env.SLUICE_DB;
  // -e: the CLI's exit code; -q: no banner; the typescript goes to /dev/null, the output to us.
  const result = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: options.cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, output: result.stdout.replace(/\r/g, '') };
}
