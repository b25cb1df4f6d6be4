import { BatchAbortedError } from './errors.js';
import { abortsBatches, type StopRequest, stopPhrase } from './stop-request.js';

/**
 * The signals of an execution's batches in flight (`ctx.signal`), one per batch: a pause, a cancel
 * or the host aborting the batches aborts them here, and each batch removes its own when it ends.
 * Nothing listens on a signal that outlives a batch, so listeners a `process` adds go with its batch.
 */
export class BatchSignals {
  private readonly inFlight = new Map<AbortController, { partition: number }>();

  constructor(
    private readonly runId: string,
    /** Aborted when the host aborts the batches in flight (`abortInFlight()`). */
    private readonly hostAbort: AbortSignal,
    /** The execution's stop request, if any. */
    private readonly stopRequest: () => StopRequest | null,
  ) {}

  /** Batches whose signal is in flight. */
  get size(): number {
    return this.inFlight.size;
  }

  /** A new batch's signal (`ctx.signal`), already aborted when the execution was told so before it began. */
  started(partition: number): AbortController {
    const batch = new AbortController();
    this.inFlight.set(batch, { partition });
    const stop = this.stopRequest();
    if (this.hostAbort.aborted) batch.abort(new BatchAbortedError(this.runId, partition));
    else if (stop && abortsBatches(stop)) batch.abort(new BatchAbortedError(this.runId, partition, stopPhrase(stop)));
    return batch;
  }

  ended(batch: AbortController): void {
    this.inFlight.delete(batch);
  }

  /** Aborts the signals of the batches in flight with a `BatchAbortedError` saying why (what `fetch` rejects with, and `signal.throwIfAborted()` throws). */
  abortAll(why?: string): void {
    for (const [batch, { partition }] of this.inFlight) batch.abort(new BatchAbortedError(this.runId, partition, why));
  }
}
