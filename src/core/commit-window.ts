/**
 * Batches one lane keeps in flight at most (`delivery: 'at-least-once'` and `'idempotent'`): while
 * its oldest batch waits to retry some items (a `Retry-After`), the lane goes on with up to this
 * many batches in all. It bounds the items the lane holds in memory and what a crash can re-send:
 * the items of calls of `process` in flight, at most this many batches' worth per lane. It has to
 * cover a `Retry-After` at the lane's pace: on the development machine a batch of 100 to a loopback
 * provider takes about 60 ms, so a 1 s wait spans 16 to 17 batches; 16 stalled the lane for the rest
 * of each wait (0.67-0.70x the error-free run at 0.6 % errors), 32 did not (0.86x; see BENCHMARKS.md).
 */
export const BATCHES_IN_FLIGHT_PER_LANE = 32;

/** What a batch in a lane's window is given: when it may commit, and how to let the lane go on. */
export interface BatchTurn {
  /** Every earlier batch of the lane has committed: this one may write its checkpoint now. */
  readonly ready: boolean;
  /**
   * Resolves once every earlier batch of the lane has committed; rejects when one of them failed
   * (or `signal` fired first): the batch must then not commit.
   */
  wait(signal?: AbortSignal): Promise<void>;
  /** The batch no longer needs the lane (it waits to retry some items, or for its turn): the lane may start its next. */
  free(): void;
}

/** Thrown by `BatchTurn.wait` when a batch before this one did not commit. */
export class EarlierBatchFailedError extends Error {
  constructor() {
    super('a batch before it in its lane did not commit');
    this.name = 'EarlierBatchFailedError';
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface InFlight<T> {
  settled: Promise<Settled<T>>;
  done: boolean;
}

/**
 * The batches of one lane in flight, committed strictly in the order they were read. A batch takes
 * the lane until it frees it (it waits to retry, or for its turn) or settles; the lane then starts
 * the next, up to `size` at once. Each batch writes its checkpoint only once the one before it has
 * committed, so the partition's cursor never passes an item whose outcome is not settled; when a
 * batch fails, every later one fails its turn and commits nothing. The lane takes the results in
 * the same order, to follow what each checkpoint saw.
 */
export class CommitWindow<T> {
  private readonly batches: InFlight<T>[] = [];
  /** Settles when the newest batch has committed (resolves) or failed (rejects). */
  private tail: Promise<void> = Promise.resolve();
  private tailSettled = true;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a commit window holds at least 1 batch, got ${size}`);
  }

  /** Batches in flight (started, their result not yet taken). */
  get count(): number {
    return this.batches.length;
  }

  get full(): boolean {
    return this.batches.length >= this.size;
  }

  /** The oldest batch has settled (committed or failed): `takeOldest` will not wait. */
  get oldestSettled(): boolean {
    return this.batches[0]?.done ?? false;
  }

  /**
   * Starts the next batch: `run` gets its turn, and must wait for it before writing its
   * checkpoint. Resolves when the batch has freed the lane or settled. Throws when the window is full.
   */
  async start(run: (turn: BatchTurn) => Promise<T>): Promise<void> {
    if (this.full) throw new Error(`the commit window is full (${this.size} batches): take the oldest first`);
    const before = this.tail;
    let free!: () => void;
    const freed = new Promise<void>((resolve) => (free = resolve));
    // A plain literal with `ready` a data property: a getter in a literal made per batch kept the
    // batches' rows alive past young-generation collections (see BatchRunner's context).
    const turn: { ready: boolean } & BatchTurn = {
      ready: this.tailSettled,
      wait: (signal) => (turn.ready ? Promise.resolve() : untilOrAborted(before, signal)),
      free: () => free(),
    };
    if (!turn.ready)
      before.then(
        () => (turn.ready = true),
        // `wait` reports the failure; this only keeps the rejection handled.
        () => undefined,
      );
    const result = Promise.resolve().then(() => run(turn));
    const entry: InFlight<T> = {
      done: false,
      settled: result.then(
        (value) => ({ ok: true, value }),
        (error: unknown) => ({ ok: false, error }),
      ),
    };
    void entry.settled.then(() => {
      entry.done = true;
      free();
    });
    this.tailSettled = false;
    const tail: Promise<void> = result.then(
      () => {
        if (this.tail === tail) this.tailSettled = true;
      },
      () => {
        throw new EarlierBatchFailedError();
      },
    );
    // A failure is reported by `takeOldest`; the tail only passes it on to later turns.
    tail.catch(() => undefined);
    this.tail = tail;
    this.batches.push(entry);
    await freed;
  }

  /** Removes the oldest batch once it settled: its result, or its error thrown. */
  async takeOldest(): Promise<T> {
    const oldest = this.batches.shift();
    if (!oldest) throw new Error('no batch in flight');
    const settled = await oldest.settled;
    if (!settled.ok) throw settled.error;
    return settled.value;
  }

  /** Waits for every batch still in flight to settle, forgets them, and starts afresh (after a failure). */
  async abandon(): Promise<void> {
    const left = this.batches.splice(0);
    await Promise.all(left.map((b) => b.settled));
    this.tail = Promise.resolve();
    this.tailSettled = true;
  }
}

function untilOrAborted(turn: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return turn;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    turn.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
