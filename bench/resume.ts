/**
 * Resume after SIGKILL: a backfill is killed mid-run (0–8 ms after its 50th commit), restarted, and
 * measured: the time from the restart to its first committed batch, and the items `process` saw
 * twice (handled by the killed process, not yet checkpointed). Median of several kills.
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
import { median } from './report.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '200000' }, runs: { type: 'string', default: '5' } } });
const rows = Number(values.rows);
const runs = Number(values.runs);
const child = new URL('./resume-child.ts', import.meta.url).pathname;

function seed(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items (id, payload) VALUES (?, ?)');
  db.transaction(() => { for (let i = 1; i <= rows; i++) insert.run(i, `item-${i}`); })();
  db.close();
}

/** Runs a child; resolves with its first-commit line, after `killAfter` batches (SIGKILL) or at its end. */
function runChild(path: string, tally: string, killAfter?: number, delayMs = 0): Promise<{ firstCommitMs: number; sinceStoreOpenMs: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, path, tally], { stdio: ['ignore', 'pipe', 'inherit'] });
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

const dir = mkdtempSync(join(tmpdir(), 'sluice-resume-'));
try {
  const firstCommit: number[] = [];
  const sinceOpen: number[] = [];
  const redone: number[] = [];
  for (let run = 0; run < runs; run++) {
    const path = join(dir, `resume-${run}.db`);
    const tally = join(dir, `tally-${run}.txt`);
    seed(path);
    // The kill lands at a different moment of the next batch each time (0, 2, 4 … ms after a commit).
    await runChild(path, tally, 50, run * 2);
    const restart = await runChild(path, tally);
    const handled = readFileSync(tally, 'utf8').trim().split('\n').reduce((sum, n) => sum + Number(n), 0);
    firstCommit.push(restart.firstCommitMs);
    sinceOpen.push(restart.sinceStoreOpenMs);
    redone.push(handled - rows);
  }
  console.log(`### Resume after SIGKILL (SQLite, ${rows.toLocaleString('en')} rows, batch size 1000, one worker, median of ${runs})\n`);
  console.log('| measure | median | all runs | target |');
  console.log('| --- | ---: | --- | --- |');
  console.log(`| restart to first committed batch (process start, incl. Node and module loading) | ${median(firstCommit).toFixed(0)} ms | ${firstCommit.map((v) => v.toFixed(0)).join(', ')} | ≤ 1 s |`);
  console.log(`| store opened to first committed batch | ${median(sinceOpen).toFixed(0)} ms | ${sinceOpen.map((v) => v.toFixed(0)).join(', ')} | |`);
  console.log(`| items processed twice | ${median(redone)} | ${redone.join(', ')} | ≤ 1 batch (1,000) |`);
  console.log('');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
