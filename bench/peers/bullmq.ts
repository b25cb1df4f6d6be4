/**
 * BullMQ 6.7.0 as a backfill, on either of its backends (bullmq-redis.ts, bullmq-postgres.ts):
 * jobs added with `addBulk` (one atomic call per chunk), run by one `Worker` in this process.
 *
 * Settings, from its documentation (guide: workers/concurrency, auto-removal of jobs):
 * - `concurrency: 50` for job-per-item, the value its concurrency guide shows for asynchronous
 *   (I/O-bound) processors, which Node interleaves on one core; 1, 2 or 4 for job-per-batch;
 * - `removeOnComplete: true`, so that a million completed jobs are not kept (failed ones are
 *   kept, so that the harness can see them);
 * - defaults otherwise (stalled checks, lock renewal, retries).
 */
import type { JobsOptions, JobType } from 'bullmq';
import type { JobPayload, JobShape, PeerAdapter, PeerQueue, PeerStartOptions } from '../peer-adapter.js';

export const PER_ITEM_CONCURRENCY = 50;
const concurrencyFor = (shape: JobShape, concurrency: number) => (shape === 'per-item' ? PER_ITEM_CONCURRENCY : concurrency);
const JOB_OPTIONS: JobsOptions = { removeOnComplete: true, removeOnFail: false };

/** What the adapter uses of a Queue, on either backend (their types differ in the backend parameter only). */
export interface QueueLike {
  waitUntilReady(): Promise<unknown>;
  addBulk(jobs: Array<{ name: string; data: JobPayload; opts?: JobsOptions }>): Promise<unknown>;
  getJobCounts(...types: JobType[]): Promise<Record<string, number>>;
  obliterate(opts?: { force?: boolean }): Promise<void>;
  close(): Promise<void>;
}
export interface WorkerLike {
  waitUntilReady(): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  close(): Promise<void>;
}

/** How one backend is connected to and cleaned up after; everything else is the same BullMQ. */
export interface BullmqBackend {
  label: string;
  /** Creates a Queue or a Worker on this backend (their constructors take the backend as a third argument). */
  queue(name: string, options: PeerStartOptions): QueueLike;
  worker(name: string, options: PeerStartOptions, processor: (payload: JobPayload) => Promise<void>, concurrency: number): WorkerLike;
  /** Removes what the queue left (keys, schema) after queue and worker are closed. */
  cleanUp(queue: QueueLike, options: PeerStartOptions): Promise<void>;
}

export function bullmqAdapter(backend: BullmqBackend): PeerAdapter {
  return {
    label: backend.label,
    perItemConcurrency: PER_ITEM_CONCURRENCY,
    describe(shape, concurrency) {
      return `Worker concurrency ${concurrencyFor(shape, concurrency)}, removeOnComplete, addBulk`;
    },
    async start(options): Promise<PeerQueue> {
      const name = 'score';
      const queue = backend.queue(name, options);
      await queue.waitUntilReady();
      const worker = backend.worker(name, options, options.handle, concurrencyFor(options.shape, options.concurrency));
      worker.on('error', (error) => console.error(`${backend.label}: ${error.message}`));
      await worker.waitUntilReady();
      return {
        async enqueue(jobs) {
          await queue.addBulk(jobs.map((data) => ({ name, data, opts: JOB_OPTIONS })));
        },
        async pendingJobs() {
          const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
          return Object.values(counts).reduce((a, b) => a + b, 0);
        },
        async failedJobs() {
          return (await queue.getJobCounts('failed')).failed ?? 0;
        },
        async close() {
          await worker.close();
          await backend.cleanUp(queue, options);
        },
      };
    },
  };
}
