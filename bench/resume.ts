/**
 * Resume after SIGKILL: a backfill is killed mid-run (0–8 ms after its 50th commit), restarted, and
 * measured: the time from the restart to its first committed batch, and the items `process` saw
 * twice (handled by the killed process, not yet checkpointed). Median of several kills, for the
 * compiled package (what an installed Sluice runs) and for the sources run through tsx.
 *
 *   node --import tsx bench/resume.ts [--rows 200000] [--runs 5]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { ensureBuilt } from './built.js';
import { median, printTarget } from './report.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '200000' }, runs: { type: 'string', default: '5' } } });
const rows = Number(values.rows);
const runs = Number(values.runs);
/** The same host twice: compiled, as installed copies of Sluice run, and from the sources through tsx. */
const hosts = [
  { name: 'compiled package (dist/)', args: [new URL('./resume-child.mjs', import.meta.url).pathname], after: [] as string[] },
  {
    name: 'TypeScript sources through tsx',
    args: ['--import', 'tsx', new URL('./resume-child.mjs', import.meta.url).pathname],
    after: ['--from-sources'],
  },
];

function seed(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items (id, payload) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) insert.run(i, `item-${i}`);
  })();
  db.close();
}

/** Runs a child; resolves with its first-commit line, after `killAfter` batches (SIGKILL) or at its end. */
function runChild(
  host: { args: string[]; after: string[] },
  path: string,
  tally: string,
  killAfter?: number,
  delayMs = 0,
): Promise<{ firstCommitMs: number; sinceStoreOpenMs: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...host.args, path, tally, ...host.after], { stdio: ['ignore', 'pipe', 'inherit'] });
    let first: { firstCommitMs: number; sinceStoreOpenMs: number } | undefined;
    let batches = 0;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('{"firstCommitMs"')) first = JSON.parse(line);
      if (line === 'batch' && ++batches === killAfter) setTimeout(() => proc.kill('SIGKILL'), delayMs);
    });
    proc.on('error', reject);
    proc.on('close', () => (first ? resolve(first) : reject(new Error('the child committed no batch'))));
  });
}

ensureBuilt();
const dir = mkdtempSync(join(tmpdir(), 'sluice-resume-'));
try {
  const measured = hosts.map((host) => ({ host, firstCommit: [] as number[], sinceOpen: [] as number[], redone: [] as number[] }));
  for (let run = 0; run < runs; run++) {
    // Interleaved, the hosts in turn; the kill lands at a different moment of the next batch each
    // time (0, 2, 4 … ms after a commit).
    for (const [index, m] of measured.entries()) {
      const path = join(dir, `resume-${run}-${index}.db`);
      const tally = `${path}.tally`;
      seed(path);
      await runChild(m.host, path, tally, 50, run * 2);
      const restart = await runChild(m.host, path, tally);
      const handled = readFileSync(tally, 'utf8')
        .trim()
        .split('\n')
        .reduce((sum, n) => sum + Number(n), 0);
      m.firstCommit.push(restart.firstCommitMs);
      m.sinceOpen.push(restart.sinceStoreOpenMs);
      m.redone.push(handled - rows);
    }
  }
  console.log(`### Resume after SIGKILL (SQLite, ${rows.toLocaleString('en')} rows, batch size 1000, one worker, median of ${runs})\n`);
  console.log('| host | measure | median | all runs | target |');
  console.log('| --- | --- | ---: | --- | --- |');
  for (const { host, firstCommit, sinceOpen, redone } of measured) {
    console.log(
      `| ${host.name} | restart to first committed batch (process start, incl. Node and module loading) | ${median(firstCommit).toFixed(0)} ms | ${firstCommit.map((v) => v.toFixed(0)).join(', ')} | ≤ 1 s |`,
    );
    console.log(
      `| ${host.name} | store opened to first committed batch | ${median(sinceOpen).toFixed(0)} ms | ${sinceOpen.map((v) => v.toFixed(0)).join(', ')} | |`,
    );
    console.log(`| ${host.name} | items processed twice | ${median(redone)} | ${redone.join(', ')} | ≤ 1 batch (1,000) |`);
  }
  console.log('');
  // The targets are the compiled package's, as users run it.
  const pkg = measured[0]!;
  printTarget(
    'resume after SIGKILL, compiled package: restart to first commit ≤ 1 s',
    median(pkg.firstCommit) <= 1000,
    `median ${median(pkg.firstCommit).toFixed(0)} ms`,
  );
  printTarget(
    'resume after SIGKILL: at most 1 batch (1,000 items) processed twice in every run',
    Math.max(...pkg.redone) <= 1000,
    `at most ${Math.max(...pkg.redone)}`,
  );
  console.log('');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
