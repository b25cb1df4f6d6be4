/**
 * One measured backfill through a job queue: enqueue every job (reading the ids as a user's
 * enqueue script would), let the queue's workers drain it, and time both, since a user's backfill
 * with a queue is the enqueueing plus the draining. The queue's workers are started before the
 * clock (a fleet of workers is usually running already) and stopped after it.
 */
import pg from 'pg';
import type { JobPayload, JobShape, PeerAdapter } from './peer-adapter.js';
import { score, selectRowsSql, updateScoresSql, verifyScored, type EmailRow } from './real-backfill-shared.js';

/** Jobs per bulk call: each queue's bulk API takes them in one statement or one atomic call. */
const ENQUEUE_CHUNK = 5000;
/** The jobs' own connections: the node-postgres default pool size, fewer when fewer jobs run at once. */
const MAX_WORK_CONNECTIONS = 10;

export interface PeerRunSpec {
  pgUrl: string;
  redisUrl: string;
  /** A fresh identifier-safe name the adapter uses for its schema, queue and key prefix. */
  namespace: string;
  table: string;
  shape: JobShape;
  /** Rows 1..rows are the work: the whole table for job-per-batch, a slice for job-per-item. */
  rows: number;
  batchSize: number;
  concurrency: number;
  /** 0: narrow rows; else the bytes of the body each job reads with its rows. */
  bodyBytes: number;
}

/** Rejects if `promise` has not settled within `ms`, so that a stuck queue fails the benchmark instead of hanging it. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Polls `done` every few milliseconds until it holds; the queues record completions asynchronously, so there is no event to wait on. */
async function pollUntil(done: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`${what}: not done within ${Math.round(ms / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function jobWork(pool: pg.Pool, table: string, bodyBytes: number) {
  return {
    /** Job-per-item: read the row, score it, write it back. */
    async scoreItem(id: number): Promise<number> {
      const {
        rows: [row],
      } = await pool.query<EmailRow>(`${selectRowsSql(table, bodyBytes)} WHERE id = $1`, [id]);
      if (row === undefined) throw new Error(`row ${id} not found`);
      const { rowCount } = await pool.query(`UPDATE ${table} SET risk_score = $2 WHERE id = $1`, [id, score(row)]);
      return rowCount ?? 0;
    },
    /** Job-per-batch: the loop's read and UPDATE for the ids in (lower, upper]; the job's completion is its checkpoint. */
    async scoreRange(lower: number, upper: number): Promise<number> {
      const { rows } = await pool.query<EmailRow>(
        `${selectRowsSql(table, bodyBytes)} WHERE id > $1 AND id <= $2 AND risk_score IS NULL ORDER BY id`,
        [lower, upper],
      );
      if (rows.length === 0) return 0;
      const { rowCount } = await pool.query(updateScoresSql(table), [rows.map((r) => r.id), rows.map(score)]);
      return rowCount ?? 0;
    },
  };
}

/** Enqueues one job per row (ids read by keyset, a chunk at a time) or one per `batchSize` ids; returns the number of jobs. */
async function enqueueAll(spec: PeerRunSpec, enqueue: (jobs: readonly JobPayload[]) => Promise<void>): Promise<number> {
  let jobs = 0;
  if (spec.shape === 'per-batch') {
    const ranges: JobPayload[] = [];
    for (let lower = 0; lower < spec.rows; lower += spec.batchSize)
      ranges.push({ lower, upper: Math.min(spec.rows, lower + spec.batchSize) });
    for (let i = 0; i < ranges.length; i += ENQUEUE_CHUNK) await enqueue(ranges.slice(i, i + ENQUEUE_CHUNK));
    return ranges.length;
  }
  const reader = new pg.Client({ connectionString: spec.pgUrl });
  await reader.connect();
  try {
    for (let cursor = 0; ; ) {
      const { rows } = await reader.query<{ id: string }>(`SELECT id FROM ${spec.table} WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, [
        cursor,
        spec.rows,
        ENQUEUE_CHUNK,
      ]);
      if (rows.length === 0) return jobs;
      await enqueue(rows.map((r) => ({ id: Number(r.id) })));
      jobs += rows.length;
      cursor = Number(rows[rows.length - 1]!.id);
    }
  } finally {
    await reader.end();
  }
}

/** Runs the backfill through `adapter`, checks every job ran exactly once and every row is scored; returns the elapsed milliseconds. */
export async function measurePeer(adapter: PeerAdapter, spec: PeerRunSpec): Promise<number> {
  const expectedJobs = spec.shape === 'per-item' ? spec.rows : Math.ceil(spec.rows / spec.batchSize);
  const jobConcurrency = spec.shape === 'per-item' ? adapter.perItemConcurrency : spec.concurrency;
  const pool = new pg.Pool({ connectionString: spec.pgUrl, max: Math.min(jobConcurrency, MAX_WORK_CONNECTIONS) });
  const work = jobWork(pool, spec.table, spec.bodyBytes);
  let handled = 0;
  let scored = 0;
  let allHandled!: () => void;
  const everyJobHandled = new Promise<void>((resolve) => {
    allHandled = resolve;
  });
  const queue = await adapter.start({
    pgUrl: spec.pgUrl,
    redisUrl: spec.redisUrl,
    namespace: spec.namespace,
    shape: spec.shape,
    concurrency: spec.concurrency,
    async handle(payload) {
      // Awaited before the addition: `scored += await …` would add to the value read before the await.
      const rowsScored = 'id' in payload ? await work.scoreItem(payload.id) : await work.scoreRange(payload.lower, payload.upper);
      scored += rowsScored;
      if (++handled === expectedJobs) allHandled();
    },
  });
  const what = `${adapter.label}, ${spec.shape}`;
  const deadlineMs = 120_000 + expectedJobs * 5;
  try {
    const started = performance.now();
    const enqueued = await enqueueAll(spec, (jobs) => queue.enqueue(jobs));
    if (enqueued !== expectedJobs) throw new Error(`${what}: enqueued ${enqueued} jobs, expected ${expectedJobs}`);
    await withDeadline(everyJobHandled, deadlineMs, `${what}: handling ${expectedJobs} jobs`);
    await pollUntil(async () => (await queue.pendingJobs()) === 0, deadlineMs, `${what}: recording ${expectedJobs} completions`);
    const elapsed = performance.now() - started;
    const failed = await queue.failedJobs();
    if (failed !== 0) throw new Error(`${what}: ${failed} jobs failed`);
    if (handled !== expectedJobs) throw new Error(`${what}: ${handled} job executions for ${expectedJobs} jobs (a job ran twice)`);
    if (scored !== spec.rows) throw new Error(`${what}: the jobs scored ${scored} rows, expected ${spec.rows}`);
    await verifyScored(spec.pgUrl, spec.table, spec.rows);
    return elapsed;
  } finally {
    await queue.close();
    await pool.end();
  }
}
