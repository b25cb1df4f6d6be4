import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { collect, jsonLines, runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/**
 * A full disk under the SQLite store, for real: a tiny tmpfs, filled up to a margin, and the CLI in
 * its own processes. Needs root to mount: CI runs as root and sets SLUICE_REQUIRE_TMPFS=1 (a failure
 * to mount fails the test there); elsewhere it says why it skips.
 */
const ROWS = 20_000;
/** Each run must end by itself well within this (a run on a full disk once spun for ever). */
const RUN_DEADLINE_MS = 60_000;

function mountTmpfs(dir: string, sizeMb: number): string | undefined {
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { encoding: 'utf8' });
  return result.status === 0 ? undefined : (result.stderr || result.error?.message || `mount exited ${result.status}`).trim();
}

/** Fills the filesystem of `dir` up to `marginKb` free kilobytes. */
function fillUpTo(dir: string, marginKb: number): string {
  const stats = statfsSync(dir);
  const freeKb = Math.floor((Number(stats.bavail) * Number(stats.bsize)) / 1024);
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, freeKb - marginKb) * 1024));
  return filler;
}

/** The demo on `db`, killed (and the test failed) if it does not end by itself in time. */
function demo(db: string, cwd: string) {
  return cli(['demo', '--db', db, '--json'], cwd);
}

/** `sluice …args`, killed (and the test failed) if it does not end by itself in time. */
async function cli(args: string[], cwd: string) {
  const child = startCli(args, { cwd });
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_DEADLINE_MS);
  const result = await collect(child);
  clearTimeout(timer);
  assert.equal(
    result.signal,
    null,
    `${args.join(' ')} did not end by itself within ${RUN_DEADLINE_MS} ms:\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`,
  );
  return result;
}

describe('a full disk under the SQLite store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let seed: string;
  let mounted: string | undefined;
  let mountError: string | undefined;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    seed = join(dir, 'seed.db');
    const seeded = await runCli(['demo', '--rows', String(ROWS), '--dry-run', '--db', seed], { cwd: dir });
    assert.equal(seeded.code, 0, seeded.stderr);
    const fs = join(dir, 'fs');
    mkdirSync(fs);
    mountError = mountTmpfs(fs, 16);
    if (mountError === undefined) mounted = fs;
  });
  after(async () => {
    if (mounted) execFileSync('umount', [mounted]);
    await cleanup();
  });

  // Margins that make the store fail at different writes: a batch's commit, a claim, the failure's own record.
  for (const marginKb of [32, 96, 160, 400]) {
    it(`${marginKb} KB left: the run ends by itself (exit 1) saying the disk is full, status says it failed or stalled, and a resume after space is freed processes every item exactly once`, async (t) => {
      if (!mounted) {
        if (process.env.SLUICE_REQUIRE_TMPFS === '1')
          assert.fail(`SLUICE_REQUIRE_TMPFS is set, but a tmpfs cannot be mounted here: ${mountError}`);
        return t.skip(`cannot mount a tmpfs here (${mountError}); CI runs this as root`);
      }
      const db = join(mounted, `s-${marginKb}.db`);
      copyFileSync(seed, db);
      const filler = fillUpTo(mounted, marginKb);
      /** What the operator does once space is freed: what status and the docs say for the state the store shows. */
      let next: string[] = ['demo'];
      try {
        const failed = await demo(db, dir);
        assert.equal(failed.code, 1, failed.stderr);
        assert.match(failed.stdout + failed.stderr, /database or disk is full/);
        const summary = jsonLines(failed.stdout).find((e) => e.event === 'summary');
        if (!summary) {
          // The disk filled before a run was recorded: no run to speak of, and none that looks healthy.
          assert.match(failed.stderr, /^sluice: .*database or disk is full/m);
          const open = await runCli(['status', '--db', db], { cwd: dir });
          assert.equal(open.code, 0, open.stderr);
          for (const line of open.stdout.split('\n').filter((l) => / running /.test(l))) assert.match(line, /STALLED since/);
        } else {
          // What status says must not be a healthy running run.
          const status = await runCli(['status', String(summary.runId), '--db', db], { cwd: dir });
          assert.equal(status.code, 0, status.stderr);
          const heading = status.stdout.split('\n')[0]!;
          if (/ failed$/.test(heading)) {
            assert.match(status.stdout, /why: .*database or disk is full/);
            next = ['retry', String(summary.runId)];
          } else {
            next = ['resume', String(summary.runId)];
            assert.match(heading, / running \(stalled\)$/, status.stdout);
            assert.match(
              status.stdout,
              /the last one stopped without recording why \(killed, or it could not write to the store: a full disk\?\)/,
            );
            assert.match(String(summary.reason), /the store could not record this failure either/);
          }
        }
      } finally {
        rmSync(filler, { force: true });
      }
      // Space is back: the operator's command goes on with the run, and every email is scored once.
      const resumed = await cli([...next, '--db', db, '--json'], dir);
      assert.equal(resumed.code, 0, `${next.join(' ')}: ${resumed.stderr}\n${resumed.stdout.slice(-3000)}`);
      const emails = new Database(db, { readonly: true });
      try {
        const coverage = emails
          .prepare(
            'SELECT COUNT(*) AS total, COUNT(risk_score) AS scored, MIN(score_writes) AS minWrites, MAX(score_writes) AS maxWrites FROM emails',
          )
          .get();
        assert.deepEqual(coverage, { total: ROWS, scored: ROWS, minWrites: 1, maxWrites: 1 }, next.join(' '));
      } finally {
        emails.close();
      }
      rmSync(db, { force: true });
      rmSync(`${db}-wal`, { force: true });
      rmSync(`${db}-shm`, { force: true });
    });
  }
});
