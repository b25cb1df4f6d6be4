/** Why an execution stops working a run, and who asked (see `RunExecution.requestStop`). */
export interface StopRequest {
  /**
   * `leave`: this process stops working the run and hands its partitions back; the run goes on.
   * `withdraw`: `leave` when other live workers hold partitions of the run, else `pause`.
   */
  kind: 'pause' | 'cancel' | 'leave' | 'withdraw';
  actor: string;
  reason: string;
  /** The caller asked for this stop up front (maxBatches, a canary): not an interruption. */
  asExpected: boolean;
}

/**
 * A pause or a cancel (asked by a user or the host, from any process, or by the failure-ratio
 * guard) aborts the batches in flight: their `process` may stop at once, and whatever it leaves
 * undone is redone on resume. A stop the caller asked for up front (maxBatches, a canary's budget),
 * a worker leaving, or a withdrawal (the first Ctrl-C) lets the batches finish and commit.
 */
export function abortsBatches(request: StopRequest): boolean {
  return (request.kind === 'pause' || request.kind === 'cancel') && !request.asExpected;
}

/** "run paused by alice: maintenance window", for the batch's `BatchAbortedError`. */
export function stopPhrase(request: StopRequest): string {
  return `run ${request.kind === 'pause' ? 'paused' : 'cancelled'} by ${request.actor}: ${request.reason}`;
}
