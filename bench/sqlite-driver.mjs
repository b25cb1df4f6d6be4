// better-sqlite3 against Node's built-in node:sqlite (Node 22.5+; stable enough to measure on 24+),
// on the shapes of Sluice's SQLite store: a transaction per batch of BATCH prepared inserts plus an
// UPDATE … RETURNING checkpoint, then keyset pages of BATCH rows read back. Same file pragmas (WAL,
// synchronous NORMAL); the two drivers alternate, ROUNDS each; medians.
//   node bench/sqlite-driver.mjs
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const require = createRequire(import.meta.url);
const Better = require('better-sqlite3');
const { DatabaseSync } = await import('node:sqlite');
const dir = mkdtempSync(join(tmpdir(), 'sluice-sqlite-driver-'));
const N = 200_000,
  BATCH = 1000,
  ROUNDS = 5;
function open(kind, file) {
  rmSync(file, { force: true });
  rmSync(file + '-wal', { force: true });
  rmSync(file + '-shm', { force: true });
  const db = kind === 'better' ? new Better(file) : new DatabaseSync(file);
  db.exec(
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT); CREATE TABLE cp (id INTEGER PRIMARY KEY, cursor INTEGER, n INTEGER); INSERT INTO cp VALUES (1, 0, 0);',
  );
  return db;
}
function run(kind) {
  const db = open(kind, join(dir, `${kind}.db`));
  const ins = db.prepare('INSERT INTO t (id, k, v) VALUES (?, ?, ?)');
  const cp = db.prepare('UPDATE cp SET cursor = ?, n = n + ? WHERE id = 1 RETURNING n');
  const sel = db.prepare('SELECT id, k, v FROM t WHERE id > ? ORDER BY id LIMIT ?');
  const t0 = performance.now();
  for (let b = 0; b < N / BATCH; b++) {
    db.exec('BEGIN');
    for (let i = b * BATCH; i < (b + 1) * BATCH; i++) ins.run(i + 1, 'key-' + i, 'value-' + i);
    cp.get((b + 1) * BATCH, BATCH);
    db.exec('COMMIT');
  }
  const t1 = performance.now();
  let after = 0,
    rows = 0;
  for (;;) {
    const page = sel.all(after, BATCH);
    if (page.length === 0) break;
    rows += page.length;
    after = page.at(-1).id;
  }
  const t2 = performance.now();
  db.close();
  if (rows !== N) throw new Error('rows ' + rows);
  return { write: t1 - t0, read: t2 - t1 };
}
const results = { better: [], node: [] };
for (let r = 0; r < ROUNDS; r++) for (const kind of r % 2 ? ['node', 'better'] : ['better', 'node']) results[kind].push(run(kind));
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const kind of ['better', 'node']) {
  const w = median(results[kind].map((x) => x.write)),
    rd = median(results[kind].map((x) => x.read));
  console.log(
    `${kind.padEnd(6)} write ${Math.round((N / w) * 1000)} rows/s (${w.toFixed(0)} ms)  read ${Math.round((N / rd) * 1000)} rows/s (${rd.toFixed(0)} ms)`,
  );
}
rmSync(dir, { recursive: true, force: true });
console.log(process.version, 'better-sqlite3', require('better-sqlite3/package.json').version, 'sqlite (node)', process.versions.sqlite);
