import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/** The file's bytes and its write-ahead log's size: what "nothing was written" means. */
function fingerprint(path: string): { sha: string; wal: number } {
  const wal = `${path}-wal`;
  return { sha: createHash('sha256').update(readFileSync(path)).digest('hex'), wal: existsSync(wal) ? statSync(wal).size : 0 };
}

/** Overwrites page `page` (0-based) with garbage, using the page size of the file's header. */
function garblePage(path: string, page: (pages: number) => number): void {
  const header = readFileSync(path).subarray(0, 100);
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65_536 : raw;
  const pages = statSync(path).size / pageSize;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, page(pages) * pageSize);
  } finally {
    closeSync(fd);
  }
}

describe('CLI: a damaged or empty store file is refused, named, and never written to', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let pristine: string;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    pristine = join(dir, 'pristine.db');
    // A real store: the demo's table beside a run's partitions, ledger and history (many pages).
    const seeded = await runCli(['demo', '--rows', '3000', '--db', pristine], { cwd: dir });
    assert.equal(seeded.code, 0, seeded.stderr);
    assert.ok(!existsSync(`${pristine}-wal`), 'closed cleanly: everything is in the file');
  });
  after(async () => cleanup());

  for (const [where, page] of [
    ['a middle page', (n: number) => Math.floor(n / 2)],
    ['the last page', (n: number) => n - 1],
  ] as const) {
    it(`garbage in ${where}: status, list, demo and store check exit 1 naming the file and what to do; the bytes stay as they were`, async () => {
      const db = join(dir, `garbled-${where.replace(/ /g, '-')}.db`);
      copyFileSync(pristine, db);
      garblePage(db, page);
      const before = fingerprint(db);
      for (const args of [['status'], ['list'], ['demo', '--rows', '3000'], ['resume', 'r_any']]) {
        const r = await runCli([...args, '--db', db], { cwd: dir });
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stdout, '', args.join(' '));
        assert.match(
          r.stderr,
          new RegExp(
            `^sluice: store ${db.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged: quick_check found .+; Sluice refused it and wrote nothing to it\\n`,
          ),
          args.join(' '),
        );
        assert.match(
          r.stderr,
          /\nhint: stop every process using it and restore it from a backup; `sluice store check --full --db .+` lists every problem; to salvage what is still readable: sqlite3 .+ "\.recover" \| sqlite3 .+\.recovered/,
        );
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.deepEqual(fingerprint(db), before, `${args.join(' ')} wrote nothing`);
      }
      const check = await runCli(['store', 'check', '--full', '--db', db], { cwd: dir });
      assert.equal(check.code, 1, check.stderr);
      assert.match(check.stdout, /integrity_check found \d+ problems?/);
      assert.match(check.stderr, /is damaged; Sluice refuses to open it/);
      assert.deepEqual(fingerprint(db), before, 'store check wrote nothing');
    });
  }

  it('store check passes a sound store, quick and full, read-only', async () => {
    const db = join(dir, 'sound.db');
    copyFileSync(pristine, db);
    const before = fingerprint(db);
    for (const [args, pragma] of [
      [[], 'quick_check'],
      [['--full'], 'integrity_check'],
    ] as const) {
      const r = await runCli(['store', 'check', ...args, '--db', db], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`: ${pragma} ok \\(\\d+ ms\\)\\n$`));
    }
    assert.deepEqual(fingerprint(db), before);
    const status = await runCli(['status', '--db', db], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
  });

  it('an empty (0-byte) file is no store: status and demo exit 1 saying so, and leave it empty', async () => {
    const db = join(dir, 'empty.db');
    writeFileSync(db, '');
    for (const args of [['status'], ['demo', '--rows', '100']]) {
      const r = await runCli([...args, '--db', db], { cwd: dir });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `sluice: ${db} is an empty file (0 bytes), not a Sluice store; nothing was written to it\n` +
          "hint: if it is meant to be a new store, delete it and Sluice creates the store there; otherwise pass --db (or SLUICE_DB) with the store's path\n",
      );
      assert.equal(statSync(db).size, 0);
      assert.ok(!existsSync(`${db}-wal`));
    }
  });
});
