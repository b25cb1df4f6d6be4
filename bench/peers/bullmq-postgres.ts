/**
 * BullMQ 6.7.0 on PostgreSQL: the backend this version ships (`createPostgresBackend`, peer
 * dependency `pg`), passed as the third argument of Queue and Worker. The connection is a config
 * object so that it can carry the schema; `migrate: true` creates the schema's tables on connect.
 * The schema is dropped on close. Settings: see bullmq.ts.
 */
import { Queue, Worker, createPostgresBackend } from 'bullmq';
import pg from 'pg';
import { bullmqAdapter } from './bullmq.js';
import type { JobPayload } from '../peer-adapter.js';

const connection = (pgUrl: string, schema: string) => ({ connectionString: pgUrl, schema, migrate: true });

export const adapter = bullmqAdapter({
  label: 'BullMQ 6.7.0 on PostgreSQL',
  queue: (name, options) => new Queue(name, { connection: connection(options.pgUrl, options.namespace) }, createPostgresBackend),
  worker: (name, options, processor, concurrency) =>
    new Worker(
      name,
      async (job: { data: JobPayload }) => processor(job.data),
      { connection: connection(options.pgUrl, options.namespace), concurrency },
      createPostgresBackend,
    ),
  async cleanUp(queue, options) {
    await queue.close();
    const admin = new pg.Client({ connectionString: options.pgUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${options.namespace} CASCADE`);
    await admin.end();
  },
});
