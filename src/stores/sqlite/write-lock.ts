/**
 * A FIFO async mutex. better-sqlite3 is one synchronous connection, but batch transactions await
 * the user's async `process`: every write must wait its turn so that no statement of another lane
 * lands inside someone else's open transaction.
 */
export class WriteLock {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}
