import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for CLI children: no TTY detection tricks, no inherited SLUICE_DB (a test may set its own). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.SLUICE_DB;
  Object.assign(env, extra);
  return env;
}

/** Runs `sluice ...args` to completion. */
export function runCli(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  return collect(startCli(args, options));
}

/** Starts `sluice ...args` and returns the child (stdout/stderr piped). */
export function startCli(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): ChildProcess {
  return spawn(process.execPath, [SLUICE_BIN, ...args], {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Resolves when the child has printed a line matching `pattern` on stdout (or on `stream`). */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs = 30_000,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<string> {
  const output = child[stream]!;
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => done(new Error(`no line matching ${pattern} on ${stream} within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      const line = buffer.split('\n').find((l) => pattern.test(l));
      if (line) done(undefined, line);
    };
    const onClose = () => done(new Error(`process exited before printing a line matching ${pattern} on ${stream}`));
    function done(error?: Error, line?: string) {
      clearTimeout(timer);
      output.off('data', onData);
      child.off('close', onClose);
      if (error) reject(error);
      else resolve(line!);
    }
    output.on('data', onData);
    child.on('close', onClose);
  });
}

/** JSON lines of a CLI's stdout. */
export function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
