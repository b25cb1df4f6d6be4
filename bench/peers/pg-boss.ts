/**
 * pg-boss 10.4.2 (11 and later need Node 22) as a backfill: jobs added with `insert` (one
 * statement per chunk), run by `work()` workers in this process.
 *
 * pg-boss 10 has no per-worker concurrency: each `work()` call is one polling loop that fetches
 * `batchSize` jobs, hands them to the handler as an array and completes them all when it resolves
 * (the documented way to raise throughput). Its loop then waits out the polling interval, measured
 * from the start of the fetch, unless the handler took longer (src/worker.js). Settings:
 * - `pollingIntervalSeconds: 0.5`, the minimum it accepts (the default is 2);
 * - concurrency = the number of `work()` calls (pg-boss 10 dropped the per-worker team options in
 *   favour of batches; more loops are more concurrency): 10 for job-per-item, one per connection of
 *   the jobs' pool (the node-postgres default of 10), and 1, 2 or 4 for job-per-batch;
 * - the handler runs its array's jobs one after another, as one job per slot runs elsewhere;
 * - `batchSize` so that one fetch's work lasts about as long as the 0.5 s interval and a loop does
 *   not sit idle: 100 item jobs (a few ms each here, one commit per row) or 50 range jobs (about
 *   10–20 ms each);
 * - defaults otherwise (retries, expiry, maintenance).
 */
import PgBoss from 'pg-boss';
import pg from 'pg';
import type { JobShape, PeerAdapter, PeerQueue, PeerStartOptions } from '../peer-adapter.js';

const POLLING_INTERVAL_SECONDS = 0.5;
const batchSizeFor = (shape: JobShape) => (shape === 'per-item' ? 100 : 50);
const PER_ITEM_WORKERS = 10;
const workersFor = (shape: JobShape, concurrency: number) => (shape === 'per-item' ? PER_ITEM_WORKERS : concurrency);

export const adapter: PeerAdapter = {
  label: 'pg-boss 10.4.2',
  perItemConcurrency: PER_ITEM_WORKERS,
  describe(shape, concurrency) {
    return `${workersFor(shape, concurrency)} work() loops, batchSize ${batchSizeFor(shape)}, pollingIntervalSeconds ${POLLING_INTERVAL_SECONDS}, insert`;
  },
  async start(options: PeerStartOptions): Promise<PeerQueue> {
    const schema = options.namespace;
    const queue = 'score';
    const workers = workersFor(options.shape, options.concurrency);
    const boss = new PgBoss({ connectionString: options.pgUrl, schema, max: workers + 2 });
    boss.on('error', (error) => console.error(`pg-boss: ${error.message}`));
    await boss.start();
    await boss.createQueue(queue);
    for (let i = 0; i < workers; i++) {
      await boss.work<never>(
        queue,
        { batchSize: batchSizeFor(options.shape), pollingIntervalSeconds: POLLING_INTERVAL_SECONDS },
        async (jobs) => {
          for (const job of jobs) await options.handle(job.data);
        },
      );
    }
    const db = boss.getDb();
    const count = async (states: string) =>
      Number(
        (
          (await db.executeSql(`SELECT count(*) AS n FROM ${schema}.job WHERE name = $1 AND state IN (${states})`, [queue])) as {
            rows: Array<{ n: string }>;
          }
        ).rows[0]!.n,
      );
    return {
      async enqueue(jobs) {
        await boss.insert(jobs.map((data) => ({ name: queue, data })));
      },
      pendingJobs: () => count(`'created', 'retry', 'active'`),
      failedJobs: () => count(`'failed'`),
      async close() {
        await boss.stop({ graceful: true, wait: true, close: true });
        const admin = new pg.Client({ connectionString: options.pgUrl });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      },
    };
  },
};
