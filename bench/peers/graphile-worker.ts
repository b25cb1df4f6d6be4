/**
 * graphile-worker 0.17.3 (0.18 needs Node 22) as a backfill: jobs added with `addJobs` (one
 * `add_jobs` call per chunk), run by one worker pool in this process.
 *
 * Settings, from its documentation (the performance page and the option typings of 0.17.3):
 * - job-per-item: the configuration its performance page reports its throughput with:
 *   `concurrentJobs: 24`, `maxPoolSize: 25`, `localQueue: { size: 500 }` (jobs fetched and locked
 *   500 at a time, handed to the 24 slots without a query each), `completeJobBatchDelay: 0` and
 *   `failJobBatchDelay: 0` (completions batched into one statement per tick);
 * - job-per-batch: `concurrentJobs` as given (1, 2, 4, like Sluice), `localQueue.size`
 *   `concurrentJobs + 1` (its typings' suggested starting point), `maxPoolSize`
 *   `max(10, concurrentJobs + 2)` (its typings' advice), the same batched completion.
 * Its own log lines (one per job at info level) are dropped; errors still go to stderr.
 */
import graphileWorker from 'graphile-worker';
import type { PeerAdapter, PeerQueue, PeerStartOptions, JobShape } from '../peer-adapter.js';

const { run, makeWorkerUtils, Logger } = graphileWorker;

const TASK = 'score';

function settings(shape: JobShape, concurrency: number) {
  const concurrentJobs = shape === 'per-item' ? 24 : concurrency;
  return {
    concurrentJobs,
    maxPoolSize: shape === 'per-item' ? 25 : Math.max(10, concurrentJobs + 2),
    localQueue: { size: shape === 'per-item' ? 500 : concurrentJobs + 1 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  };
}

const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});

export const adapter: PeerAdapter = {
  label: 'graphile-worker 0.17.3',
  perItemConcurrency: 24,
  describe(shape, concurrency) {
    const s = settings(shape, concurrency);
    return `concurrentJobs ${s.concurrentJobs}, maxPoolSize ${s.maxPoolSize}, localQueue.size ${s.localQueue.size}, completeJobBatchDelay 0, failJobBatchDelay 0, addJobs`;
  },
  async start(options: PeerStartOptions): Promise<PeerQueue> {
    const schema = options.namespace;
    const preset = {
      worker: { connectionString: options.pgUrl, schema, logger: quietLogger, ...settings(options.shape, options.concurrency) },
    };
    const utils = await makeWorkerUtils({ preset });
    await utils.migrate();
    const runner = await run({
      preset,
      noHandleSignals: true,
      taskList: { [TASK]: async (payload) => options.handle(payload as never) },
    });
    const count = async (where: string) =>
      utils.withPgClient(async (client) =>
        Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}._private_jobs ${where}`)).rows[0]!.n),
      );
    return {
      async enqueue(jobs) {
        await utils.addJobs(jobs.map((payload) => ({ identifier: TASK, payload })));
      },
      // A completed job is deleted; a failed one stays with last_error set and attempts left.
      pendingJobs: () => count('WHERE last_error IS NULL'),
      failedJobs: () => count('WHERE last_error IS NOT NULL'),
      async close() {
        await runner.stop();
        await utils.withPgClient((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
        await utils.release();
      },
    };
  },
};
