/**
 * The shape every job-queue adapter under bench/peers/ exposes to bench/real-backfill-peers.ts.
 * The adapters live in their own package (bench/peers/package.json) so that the queues are never
 * dependencies of sluice; the harness imports them only after installing that package, which is why
 * this interface lives here, type-checked with the rest of bench/, and the adapters import it.
 */

/** Job-per-item: one job per row, what users of a job queue commonly write. */
export interface ItemJob {
  id: number;
}
/** Job-per-batch: one job per key range of ids in (lower, upper]. */
export interface RangeJob {
  lower: number;
  upper: number;
}
export type JobPayload = ItemJob | RangeJob;

export type JobShape = 'per-item' | 'per-batch';

export interface PeerStartOptions {
  /** PostgreSQL connection string (the queues on PostgreSQL keep their tables there). */
  pgUrl: string;
  redisUrl: string;
  /** A fresh name for this run's schema, queue and Redis key prefix; the adapter removes what it creates on close. */
  namespace: string;
  shape: JobShape;
  /** Jobs in flight at once, in the queue's own terms (its concurrency setting, or its number of workers). */
  concurrency: number;
  /** The job's work; an adapter calls it once per job it delivers and completes the job when it resolves. */
  handle: (payload: JobPayload) => Promise<void>;
}

export interface PeerQueue {
  /** Adds jobs with the queue's own bulk API (the harness passes a few thousand at a time). */
  enqueue(jobs: readonly JobPayload[]): Promise<void>;
  /** Jobs the queue still holds as not completed (waiting, active, or completed but not yet recorded); 0 once drained. */
  pendingJobs(): Promise<number>;
  /** Jobs the queue holds as failed (must stay 0). */
  failedJobs(): Promise<number>;
  /** Stops the workers and removes the schema, tables or keys the adapter created. */
  close(): Promise<void>;
}

export interface PeerAdapter {
  /** e.g. "graphile-worker 0.17.3" */
  label: string;
  /** The settings used for a shape and concurrency, in words, for the table and BENCHMARKS.md. */
  describe(shape: JobShape, concurrency: number): string;
  /** The concurrency the queue's documentation suggests for an I/O-bound job-per-item workload. */
  perItemConcurrency: number;
  /** Prepares the queue (schema, migrations) and starts its workers, which then wait for jobs. */
  start(options: PeerStartOptions): Promise<PeerQueue>;
}
