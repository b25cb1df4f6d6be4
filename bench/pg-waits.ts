/**
 * What PostgreSQL's sessions wait on: a sampler that reads the wait events of active sessions from
 * pg_stat_activity every 10 ms, until stopped. Used by bench/foreground-anatomy.ts and
 * bench/foreground-commit.ts (the foreground's sessions) and bench/cpu-share.ts (every client
 * session but its own).
 */
import pg from 'pg';

export interface WaitSampler {
  /** The samples counted so far, per wait event (a copy). */
  sofar(): Map<string, number>;
  /** Stops sampling; resolves with the samples counted per wait event. */
  stop(): Promise<Map<string, number>>;
}

/** Which sessions to sample: those of one `application_name`, or every client session (but the sampler's). */
export type WaitScope = { applicationName: string } | 'all clients';

/**
 * Counts the wait events of the scope's active sessions, every 10 ms; "CPU (no wait event)" when one
 * waits on nothing. If the database cannot be reached, it says so on stderr and counts nothing.
 */
export function sampleWaits(url: string, scope: WaitScope): WaitSampler {
  const counts = new Map<string, number>();
  let running = true;
  const filter = scope === 'all clients' ? "backend_type = 'client backend' AND pid <> pg_backend_pid()" : 'application_name = $1';
  const params = scope === 'all clients' ? [] : [scope.applicationName];
  const done = (async () => {
    const c = new pg.Client({ connectionString: url, application_name: 'bench:sampler' });
    await c.connect();
    try {
      while (running) {
        const { rows } = await c.query<{ w: string }>(
          `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU (no wait event)') AS w
          FROM pg_stat_activity WHERE ${filter} AND state = 'active'`,
          params,
        );
        for (const r of rows) counts.set(r.w, (counts.get(r.w) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await c.end();
    }
  })().catch((error: unknown) => {
    // A diagnostic beside a benchmark: say why its counts stop, and let the benchmark go on.
    console.error(`the wait-event sampler stopped: ${(error as Error).message}`);
  });
  return {
    sofar: () => new Map(counts),
    stop: async () => {
      running = false;
      await done;
      return counts;
    },
  };
}

/** The samples in all, and the `n` most frequent wait events with their shares: "412 samples: CPU (no wait event) 61 %, …". */
export function topWaits(waits: ReadonlyMap<string, number>, n = 4): string {
  const total = [...waits.values()].reduce((a, b) => a + b, 0);
  const top = [...waits.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${Math.round((v / total) * 100)} %`)
    .join(', ');
  return `${total} samples: ${top || '—'}`;
}
/** The share (0–1) of the samples whose wait event matches `pattern` (e.g. the WAL's: /WAL/). */
export function waitShare(waits: ReadonlyMap<string, number>, pattern: RegExp): number {
  let total = 0;
  let matching = 0;
  for (const [k, v] of waits) {
    total += v;
    if (pattern.test(k)) matching += v;
  }
  return total === 0 ? 0 : matching / total;
}

/** The samples counted between two readings of one sampler (`later` minus `earlier`). */
export function waitsBetween(earlier: ReadonlyMap<string, number>, later: ReadonlyMap<string, number>): Map<string, number> {
  const between = new Map<string, number>();
  for (const [k, v] of later) if (v > (earlier.get(k) ?? 0)) between.set(k, v - (earlier.get(k) ?? 0));
  return between;
}
