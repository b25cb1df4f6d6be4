import type { Clock } from './clock.js';
import { allSettled, isClaimable, liveLeaseOwners } from './lease-liveness.js';
import { ProgressTracker } from './progress-tracker.js';
import type { PartitionRecord, RunRecord } from './run.js';
import type { ProgressSnapshot } from './run-handle.js';
import type { PartitionLeases, RunStore, StoreDatabase } from './store.js';

/** One look at the run in the store, taken by a process following it. */
export interface RunReading {
  run: RunRecord;
  partitions: PartitionRecord[];
  /** A partition is pending or its lease expired (a dead worker's, one handed back): claim it. */
  claimable: boolean;
  /** Every partition is done or failed: only the run's end is left to record. */
  settled: boolean;
  /** Live workers, other than this process, holding partitions. */
  otherWorkers: string[];
}

export interface RunWatchConfig {
  store: StoreDatabase & RunStore & PartitionLeases;
  runId: string;
  clock: Clock;
  /** This process's lease owner id (not counted among the other workers). */
  self: string;
  isOwnerDead: (owner: string) => boolean;
}

/**
 * The whole run as the store sees it, for a process that follows a run other workers are
 * finishing: every worker's counts together, with a rate and an ETA over them, and what the
 * follower decides on (has the run ended, is a partition free). Readings are taken on demand (at
 * the progress interval); concurrent requests share one reading.
 */
export class RunWatch {
  private tracker: ProgressTracker | undefined;
  private latest: RunReading | undefined;
  private reading: Promise<RunReading> | undefined;
  private readonly waiters = new Set<(reading: RunReading) => void>();

  constructor(private readonly config: RunWatchConfig) {}

  /** Reads the run and its partitions now (expiring the leases of dead owners first). */
  refresh(): Promise<RunReading> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** The next reading someone takes, or undefined when `signal` aborts first. */
  next(signal: AbortSignal): Promise<RunReading | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onReading = (reading: RunReading) => done(reading);
      const onAbort = () => done(undefined);
      const done = (reading: RunReading | undefined) => {
        this.waiters.delete(onReading);
        signal.removeEventListener('abort', onAbort);
        resolve(reading);
      };
      this.waiters.add(onReading);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Run-wide progress from the latest reading; undefined before the first. */
  snapshot(): Omit<ProgressSnapshot, 'state' | 'elapsedMs' | 'dryRun'> | undefined {
    const reading = this.latest;
    if (!reading || !this.tracker) return undefined;
    const now = this.config.clock.now();
    const { run, partitions } = reading;
    return {
      runId: run.id,
      backfill: run.backfill,
      scope: 'run',
      counts: this.tracker.total(),
      batches: this.tracker.batches(),
      plannedItems: run.plannedItems,
      itemsPerSecond: this.tracker.itemsPerSecond(now),
      etaSeconds: this.tracker.etaSeconds(now),
      partitions: {
        total: partitions.length,
        done: partitions.filter((p) => p.state === 'done').length,
        running: partitions.filter((p) => p.state === 'running').length,
      },
    };
  }

  private async read(): Promise<RunReading> {
    const { store, runId, clock } = this.config;
    await store.expireLeases(this.config.isOwnerDead);
    // Leases are judged by the store's clock (workers on other machines set them by it); the rate by this process's.
    const [run, partitions, storeNow] = await Promise.all([store.getRun(runId), store.listPartitions(runId), store.clockNow()]);
    if (!run) throw new Error(`run ${runId} vanished from the store while it was being followed`);
    const now = clock.now();
    // The rate is measured from the first reading on: what other workers did before is the base.
    if (!this.tracker) this.tracker = new ProgressTracker(run.counts, run.batches, run.plannedItems, now);
    else this.tracker.observe(run.counts, run.batches, now);
    this.tracker.plannedItems = run.plannedItems;
    const reading: RunReading = {
      run,
      partitions,
      claimable: partitions.some((p) => isClaimable(p, storeNow)),
      settled: allSettled(partitions),
      otherWorkers: liveLeaseOwners(partitions, storeNow, this.config.isOwnerDead).filter((owner) => owner !== this.config.self),
    };
    this.latest = reading;
    for (const waiter of [...this.waiters]) waiter(reading);
    return reading;
  }
}
