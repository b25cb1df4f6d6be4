import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { realClockEnv } from './real-clock-env.js';

const run = promisify(execFile);

/** Where Debian puts the server binaries (the newest installed major version). */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** Why a private cluster cannot be started here, or undefined when it can. */
export function privateClusterUnavailable(): string | undefined {
  if (!binDir()) return 'no PostgreSQL server binaries under /usr/lib/postgresql';
  if (userInfo().uid === 0 && !existsSync('/usr/sbin/runuser')) return 'running as root without runuser (initdb refuses root)';
  return undefined;
}

export interface PgCluster {
  url: string;
  port: number;
  /** A streaming replica of this server (hot standby), on a port of its own. */
  startReplica(): Promise<PgCluster>;
  /**
   * Freezes the server: SIGSTOP to the postmaster and every process it started, so that it
   * accepts TCP connections (the kernel does) and answers nothing, like a hung host.
   */
  freeze(): void;
  /** SIGCONT to the processes `freeze` stopped: the server answers again, sessions intact. */
  thaw(): void;
  /** Restarts the server (fast shutdown: sessions are cut) and resolves once it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A throwaway PostgreSQL server of the test's own, on a free port, for tests that restart the
 * server or fill its connections: the shared server on 5432 serves the other suites meanwhile.
 * initdb and the server refuse to run as root, so as root they run as the `postgres` user.
 */
export async function startPgCluster(
  options: { maxConnections?: number; settings?: readonly string[]; replicaOf?: number } = {},
): Promise<PgCluster> {
  const bin = binDir();
  if (!bin) throw new Error('no PostgreSQL server binaries');
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
  if (asRoot)
    chownSync(
      dir,
      Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
      Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
    );
  // The server keeps the machine's true clock, as the shared one on 5432 does, when a test run moves the tests' clock.
  const env = realClockEnv();
  const pgRun = (tool: string, args: string[]) =>
    asRoot ? run('/usr/sbin/runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { env }) : run(join(bin, tool), args, { env });
  const data = join(dir, 'data');
  if (options.replicaOf === undefined) await pgRun('initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  // -R writes standby.signal and the primary's connection: the copy starts as a streaming replica.
  else
    await pgRun('pg_basebackup', [
      '-D',
      data,
      '-R',
      '-h',
      '127.0.0.1',
      '-p',
      String(options.replicaOf),
      '-U',
      'postgres',
      '-X',
      'stream',
      '--no-sync',
    ]);
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    `-c max_connections=${options.maxConnections ?? 50}`,
    ...(options.settings ?? []).map((s) => `-c ${s}`),
  ].join(' ');
  const start = () => pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const ready = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  };
  await ready();
  let frozen: number[] = [];
  return {
    url,
    port,
    freeze: () => {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // The postmaster first: stopped, it starts no process after the list below is taken.
      process.kill(postmaster, 'SIGSTOP');
      frozen = [postmaster, ...childrenOf(postmaster)];
      for (const pid of frozen.slice(1)) process.kill(pid, 'SIGSTOP');
    },
    thaw: () => {
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone meanwhile
        }
      }
      frozen = [];
    },
    startReplica: () => startPgCluster({ replicaOf: port }),
    restart: async () => {
      await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      await start();
      await ready();
    },
    stop: async () => {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
