/**
 * Where the machine's CPU goes while a benchmark runs: runs a benchmark command (its variants
 * interleaved, each ending with a `round N: <variant>: <seconds> s` line on stderr, as
 * real-backfill-peers.ts and real-backfill-postgres.ts print them) and splits the CPU time of each
 * variant between the benchmark's own processes (Node: Sluice, the loop or the queue's workers),
 * PostgreSQL's server processes, Redis, and the rest, from /proc every 100 ms. A diagnostic for
 * "is this comparison bound by the database or by the client": on 2 cores, 200 % is all of it.
 * Linux only. A variant's window runs from the previous variant's line to its own, so it includes
 * the benchmark's setup between them (resetting the table), the same for every variant.
 *
 * "Waiting on the disk" is the machine's iowait: time a core had nothing to run while a process
 * waited for its reads, writes or flushes (a database waiting on fsync shows here, not as busy).
 * `--waits` also samples what PostgreSQL's client sessions wait on (pg_stat_activity every 10 ms,
 * bench/pg-waits.ts) and prints each variant's most frequent wait events: what a database that is
 * neither busy nor idle is held up by.
 *
 *   node --import tsx bench/cpu-share.ts [--waits] [--pg <url>] -- node --import tsx bench/real-backfill-postgres.ts --rows 300000 --runs 1
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { sampleWaits, topWaits, waitsBetween } from './pg-waits.js';

const separator = process.argv.indexOf('--');
const command = separator >= 0 ? process.argv.slice(separator + 1) : [];
if (command.length === 0) {
  console.error('usage: node --import tsx bench/cpu-share.ts [--waits] [--pg <url>] -- <benchmark command and its arguments>');
  process.exit(2);
}
const { values } = parseArgs({
  args: process.argv.slice(2, separator),
  options: {
    waits: { type: 'boolean', default: false },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});

type Group = 'benchmark' | 'postgres' | 'redis' | 'other';
type Totals = Record<Group, number> & { busy: number; iowait: number; all: number };

/**
 * CPU ticks (utime + stime, 1/100 s) by group since the start, summed per process from one reading
 * to the next, so that a process that ended (a pool's backend closed) keeps what it used up to its
 * last reading; and the machine's busy and total ticks.
 */
class CpuTotals {
  readonly totals: Totals = { benchmark: 0, postgres: 0, redis: 0, other: 0, busy: 0, iowait: 0, all: 0 };
  private readonly last = new Map<number, { name: string; ticks: number }>();
  private lastMachine: { busy: number; iowait: number; all: number } | undefined;

  /** Boot-relative ticks when the totals began (a process's start time is in the same unit). */
  private readonly since = Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100);

  constructor(private readonly root: number) {}

  update(): Totals {
    const processes = new Map<number, { parent: number; name: string; ticks: number; started: number }>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // The command name is in parentheses and may hold spaces: the fields after it are fixed.
        const close = stat.lastIndexOf(')');
        const name = stat.slice(stat.indexOf('(') + 1, close);
        const fields = stat.slice(close + 2).split(' ');
        processes.set(Number(entry), {
          parent: Number(fields[1]),
          name,
          ticks: Number(fields[11]) + Number(fields[12]),
          started: Number(fields[19]),
        });
      } catch {
        // It ended between the listing and the read.
      }
    }
    const inTree = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (p === this.root) return true;
        p = processes.get(p)?.parent ?? 0;
      }
      return false;
    };
    for (const [pid, p] of processes) {
      const before = this.last.get(pid);
      // A process seen for the first time counts its whole CPU only if it started since the
      // baseline (otherwise it was missed once, or this is the baseline itself).
      const used = before && before.name === p.name ? p.ticks - before.ticks : p.started >= this.since ? p.ticks : 0;
      const group: Group = inTree(pid)
        ? 'benchmark'
        : p.name.startsWith('postgres')
          ? 'postgres'
          : p.name.startsWith('redis')
            ? 'redis'
            : 'other';
      this.totals[group] += Math.max(0, used);
      this.last.set(pid, { name: p.name, ticks: p.ticks });
    }
    for (const pid of this.last.keys()) if (!processes.has(pid)) this.last.delete(pid);
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const all = cpu.reduce((a, b) => a + b, 0);
    const iowait = cpu[4] ?? 0;
    const busy = all - cpu[3]! - iowait;
    if (this.lastMachine) {
      this.totals.all += all - this.lastMachine.all;
      this.totals.busy += busy - this.lastMachine.busy;
      this.totals.iowait += iowait - this.lastMachine.iowait;
    }
    this.lastMachine = { busy, iowait, all };
    return { ...this.totals };
  }
}

const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'inherit', 'pipe'] });
const cpu = new CpuTotals(child.pid!);
const timer = setInterval(() => cpu.update(), 100);
const waits = values.waits ? sampleWaits(values.pg!, 'all clients') : undefined;
let windowStart = { at: performance.now(), ticks: cpu.update(), waits: waits?.sofar() ?? new Map<string, number>() };
const rows: string[] = [];
const waitLines: string[] = [];
const cores = readFileSync('/proc/cpuinfo', 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('processor')).length;

createInterface({ input: child.stderr! }).on('line', (line) => {
  process.stderr.write(`${line}\n`);
  const ended = /^\s*round \d+: (.+): ([\d.]+) s$/.exec(line);
  if (!ended) return;
  const now = { at: performance.now(), ticks: cpu.update(), waits: waits?.sofar() ?? new Map<string, number>() };
  const seconds = (now.at - windowStart.at) / 1000;
  const share = (group: Group) => `${Math.round((now.ticks[group] - windowStart.ticks[group]) / seconds)} %`;
  const machine = (key: 'busy' | 'iowait') =>
    `${Math.round((100 * (now.ticks[key] - windowStart.ticks[key])) / (now.ticks.all - windowStart.ticks.all))} %`;
  rows.push(
    `| ${ended[1]} | ${ended[2]} s | ${share('benchmark')} | ${share('postgres')} | ${share('redis')} | ${share('other')} | ${machine('busy')} | ${machine('iowait')} |`,
  );
  if (waits) waitLines.push(`- ${ended[1]}: ${topWaits(waitsBetween(windowStart.waits, now.waits), 5)}`);
  windowStart = now;
});

child.on('exit', async (code) => {
  clearInterval(timer);
  await waits?.stop();
  console.log(`\n### CPU by process group, per variant (${cores} cores: ${cores * 100} % is all of them)\n`);
  console.log('| variant | its time | the benchmark (Node) | PostgreSQL | Redis | other | machine busy | waiting on the disk |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
  if (waits) {
    console.log("\n### What PostgreSQL's client sessions wait on, per variant (active sessions, sampled every 10 ms)\n");
    for (const line of waitLines) console.log(line);
  }
  process.exitCode = code ?? 1;
});
