/**
 * BullMQ 6.7.0 on Redis (through ioredis), its original backend; the queue's keys live under a
 * prefix of their own and are obliterated on close. Settings: see bullmq.ts.
 */
import { Queue, Worker } from 'bullmq';
import { bullmqAdapter } from './bullmq.js';
import type { JobPayload } from '../peer-adapter.js';

// BullMQ creates its own ioredis connections from these; workers need maxRetriesPerRequest: null.
const connection = (redisUrl: string) => {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
};

export const adapter = bullmqAdapter({
  label: 'BullMQ 6.7.0 on Redis',
  queue: (name, options) => new Queue<JobPayload>(name, { connection: connection(options.redisUrl), prefix: options.namespace }),
  worker: (name, options, processor, concurrency) =>
    new Worker<JobPayload>(name, async (job) => processor(job.data), {
      connection: connection(options.redisUrl),
      prefix: options.namespace,
      concurrency,
    }),
  async cleanUp(queue) {
    await queue.obliterate({ force: true });
    await queue.close();
  },
});
