import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BatchTurn, CommitWindow, EarlierBatchFailedError } from '../../src/core/commit-window.js';

/** A batch the test drives by hand: it frees the lane, then commits (or fails) when told. */
function manualBatch(log: string[], name: string) {
  let finish!: (ok: boolean) => void;
  const finished = new Promise<boolean>((resolve) => (finish = resolve));
  let turn!: BatchTurn;
  const run = async (t: BatchTurn): Promise<string> => {
    turn = t;
    log.push(`${name} started`);
    t.free(); // waits to retry: the lane may go on
    if (!(await finished)) throw new Error(`${name} failed`);
    await t.wait();
    log.push(`${name} committed`);
    return name;
  };
  return { run, finish, turn: () => turn };
}

describe('CommitWindow: a lane goes on while a batch waits, and its batches commit in order', () => {
  it('lets the lane start later batches while the first waits, and commits them only after it', async () => {
    const log: string[] = [];
    const window = new CommitWindow<string>(4);
    const a = manualBatch(log, 'a');
    const b = manualBatch(log, 'b');
    const c = manualBatch(log, 'c');
    await window.start(a.run);
    await window.start(b.run);
    await window.start(c.run);
    assert.equal(window.count, 3);
    assert.equal(window.full, false);
    assert.equal(a.turn().ready, true, 'the oldest may commit at once');
    assert.equal(b.turn().ready, false, 'a later batch waits for the ones before it');
    // The later batches are done first: they still wait for the first.
    c.finish(true);
    b.finish(true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['a started', 'b started', 'c started']);
    assert.equal(window.oldestSettled, false);
    a.finish(true);
    assert.deepEqual([await window.takeOldest(), await window.takeOldest(), await window.takeOldest()], ['a', 'b', 'c']);
    assert.deepEqual(log.slice(3), ['a committed', 'b committed', 'c committed']);
    assert.equal(window.count, 0);
  });

  it('a batch that never frees the lane is run alone: the next starts after it settled, its turn ready', async () => {
    const window = new CommitWindow<number>(4);
    let turnOfSecond: BatchTurn | undefined;
    await window.start(async () => 1);
    assert.equal(window.oldestSettled, true, 'start returns once the batch settled');
    await window.start(async (turn) => {
      turnOfSecond = turn;
      return 2;
    });
    assert.equal(turnOfSecond!.ready, true);
    assert.deepEqual([await window.takeOldest(), await window.takeOldest()], [1, 2]);
  });

  it('is full at its size, and refuses a batch more', async () => {
    const log: string[] = [];
    const window = new CommitWindow<string>(2);
    const a = manualBatch(log, 'a');
    await window.start(a.run);
    await window.start(manualBatch(log, 'b').run);
    assert.equal(window.full, true);
    await assert.rejects(window.start(manualBatch(log, 'c').run), /the commit window is full \(2 batches\)/);
    assert.deepEqual(log, ['a started', 'b started']);
    assert.throws(() => new CommitWindow(0), RangeError);
  });

  it('a failed batch fails the turn of every later one: they never commit, and the error comes out in order', async () => {
    const log: string[] = [];
    const window = new CommitWindow<string>(4);
    const a = manualBatch(log, 'a');
    const b = manualBatch(log, 'b');
    await window.start(a.run);
    await window.start(b.run);
    b.finish(true);
    a.finish(false);
    await assert.rejects(window.takeOldest(), /a failed/);
    await assert.rejects(window.takeOldest(), EarlierBatchFailedError);
    assert.deepEqual(log, ['a started', 'b started'], 'nothing committed past the failure');
    // Afresh after abandoning: a new batch's turn is ready at once.
    await window.abandon();
    let ready: boolean | undefined;
    await window.start(async (turn) => {
      ready = turn.ready;
      return 'c';
    });
    assert.equal(ready, true);
    assert.equal(await window.takeOldest(), 'c');
  });

  it("a batch's wait for its turn ends when its signal fires", async () => {
    const log: string[] = [];
    const window = new CommitWindow<string>(4);
    const a = manualBatch(log, 'a');
    await window.start(a.run);
    const abort = new AbortController();
    await window.start(async (turn) => {
      turn.free();
      await turn.wait(abort.signal);
      return 'b';
    });
    abort.abort(new Error('paused'));
    a.finish(true);
    assert.equal(await window.takeOldest(), 'a');
    await assert.rejects(window.takeOldest(), /paused/);
  });

  it('abandon waits for every batch still in flight', async () => {
    const log: string[] = [];
    const window = new CommitWindow<string>(4);
    const a = manualBatch(log, 'a');
    await window.start(a.run);
    let settled = false;
    const abandoned = window.abandon().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'a batch in flight is waited for');
    a.finish(false);
    await abandoned;
    assert.equal(window.count, 0);
  });
});
