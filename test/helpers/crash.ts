import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { collect, runCli, startCli, waitForLine } from './cli.js';

/**
 * A SQLite file holding an `orders` table of `rows` rows (`id` 1..rows, `total` id % 97), in WAL
 * mode: the source the crash tests back fill from.
 */
export function sqliteOrders(path: string, rows: number): void {
  const conn = new Database(path);
  conn.pragma('journal_mode = WAL');
  conn.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)');
  const insert = conn.prepare('INSERT INTO orders VALUES (?, ?)');
  conn.transaction(() => {
    for (let i = 1; i <= rows; i++) insert.run(i, i % 97);
  })();
  conn.close();
}

/**
 * Kills `sluice run` with SIGKILL up to four times while it works, then lets it finish; returns
 * the kills that landed (at least two). A run that finishes before a kill ends the loop: a further
 * start would only report the success, never print `started`.
 */
export async function killAndFinish(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<number> {
  let kills = 0;
  for (let i = 0; i < 4; i++) {
    const child = startCli(args, options);
    const done = collect(child);
    await waitForLine(child, /"event":"started"/);
    await new Promise((resolve) => setTimeout(resolve, 150 + i * 97));
    child.kill('SIGKILL');
    const ended = await done;
    if (ended.signal !== 'SIGKILL') {
      assert.equal(ended.code, 0, ended.stderr);
      assert.ok(kills >= 2, `only ${kills} kills landed while the run was going`);
      return kills;
    }
    kills += 1;
  }
  assert.ok(kills >= 2, `only ${kills} kills landed while the run was going`);
  const last = await runCli(args, options);
  assert.equal(last.code, 0, last.stderr);
  return kills;
}
