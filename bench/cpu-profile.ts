/**
 * Reading a V8 CPU profile (node:inspector's `Profiler.stop`, or a `--cpu-prof` file) for
 * bench/overhead-profile.ts: self time per sampled frame, grouped by where the code lives (Sluice's
 * core by file, its sources and store adapters, the `pg` driver and `pg-protocol`, better-sqlite3,
 * pino, Node's internals, GC, idle), and split into the phases of a run by the samples' timestamps.
 */

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame; children?: number[] }>;
  /** Microseconds, on the clock of `process.hrtime` (both read CLOCK_MONOTONIC). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a group (a row of the table) and, within Sluice's code, the file. */
export interface Place {
  group: string;
  detail: string;
}

/** The groups in the order the table lists them. */
export const GROUPS = [
  'Sluice core',
  'Sluice sources',
  'Sluice store adapters',
  'Sluice, other',
  'pg (driver: rows into objects, queries, pool)',
  'pg-protocol (wire messages, text decoding)',
  'better-sqlite3 (statements, in SQLite)',
  'pino (logging)',
  '@opentelemetry/api (tracing, no-op)',
  'other packages',
  "the benchmark's own code (its no-op process)",
  'Node internals',
  'V8 outside JavaScript (program)',
  'GC',
  'idle (waiting for I/O)',
] as const;

/** The methods better-sqlite3 implements in C++: a sampled native frame of that name under SQLite code is SQLite's work. */
const SQLITE_NATIVE = new Set(['all', 'get', 'run', 'iterate', 'exec', 'prepare', 'Statement', 'Database', 'pragma', 'close']);

const PACKAGES: Array<[RegExp, (typeof GROUPS)[number]]> = [
  [/\/node_modules\/pg-protocol\//, 'pg-protocol (wire messages, text decoding)'],
  [
    /\/node_modules\/(pg|pg-pool|pg-types|pg-int8|pg-connection-string|pgpass|postgres-[a-z]+)\//,
    'pg (driver: rows into objects, queries, pool)',
  ],
  [/\/node_modules\/(better-sqlite3|bindings)\//, 'better-sqlite3 (statements, in SQLite)'],
  [
    /\/node_modules\/(pino[a-z-]*|@pinojs\/[a-z-]+|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep)\//,
    'pino (logging)',
  ],
  [/\/node_modules\/@opentelemetry\//, '@opentelemetry/api (tracing, no-op)'],
];

/**
 * Where `frame` lives. Frames without a URL are V8's pseudo-frames (GC, idle, program) or native
 * code called from JavaScript (builtins, C++ bindings): those count where their caller lives
 * (`caller`), except better-sqlite3's statement methods called from SQLite code, which are SQLite's.
 */
export function placeOf(frame: CallFrame, caller: Place | undefined): Place {
  const { functionName: name, url } = frame;
  if (url === '') {
    if (name === '(garbage collector)') return { group: 'GC', detail: '' };
    if (name === '(idle)') return { group: 'idle (waiting for I/O)', detail: '' };
    if (name === '(program)' || name === '(root)' || caller === undefined) return { group: 'V8 outside JavaScript (program)', detail: '' };
    if (SQLITE_NATIVE.has(name) && /sqlite/.test(`${caller.group} ${caller.detail}`))
      return { group: 'better-sqlite3 (statements, in SQLite)', detail: '' };
    return caller;
  }
  const sluice = /\/(dist|src)\/((core|sources|stores)\/)?(.+)\.[jt]s$/.exec(url);
  if (sluice && !url.includes('/node_modules/')) {
    const area = sluice[3];
    const group =
      area === 'core'
        ? 'Sluice core'
        : area === 'sources'
          ? 'Sluice sources'
          : area === 'stores'
            ? 'Sluice store adapters'
            : 'Sluice, other';
    return { group, detail: `${area ? `${area}/` : ''}${sluice[4]}` };
  }
  for (const [pattern, group] of PACKAGES) if (pattern.test(url)) return { group, detail: '' };
  if (url.includes('/node_modules/')) return { group: 'other packages', detail: /\/node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)![1]! };
  if (url.startsWith('node:')) return { group: 'Node internals', detail: '' };
  if (url.includes('/bench/')) return { group: "the benchmark's own code (its no-op process)", detail: '' };
  return { group: 'other packages', detail: url.replace(/^.*\//, '') };
}

/** One sampled frame's self time, with where it lives. */
export interface FrameTime {
  place: Place;
  /** "functionName file:line", for the list of hottest functions. */
  name: string;
  us: number;
}

/**
 * Self time per frame, in microseconds, over the samples whose timestamp lies in [from, to)
 * (process.hrtime microseconds; the whole profile by default). Each sample lasts until the next one.
 */
export function selfTimes(profile: CpuProfile, from = -Infinity, to = Infinity): FrameTime[] {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const places = new Map<number, Place>();
  const placeOfNode = (id: number): Place => {
    const known = places.get(id);
    if (known) return known;
    const up = parent.get(id);
    const place = placeOf(
      byId.get(id)!.callFrame,
      up === undefined || byId.get(up)!.callFrame.functionName === '(root)' ? undefined : placeOfNode(up),
    );
    places.set(id, place);
    return place;
  };
  const us = new Map<number, number>();
  let time = profile.startTime;
  const stamps = profile.timeDeltas.map((delta) => (time += delta));
  for (let i = 0; i < profile.samples.length; i++) {
    const at = stamps[i]!;
    if (at < from || at >= to) continue;
    const id = profile.samples[i]!;
    us.set(id, (us.get(id) ?? 0) + Math.max(0, (stamps[i + 1] ?? profile.endTime) - at));
  }
  return [...us].map(([id, time]) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/(dist|src)\//, '');
    return { place: placeOfNode(id), name: `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`, us: time };
  });
}

/** Sums `times` by `key` (a group, a group and file, a function), largest first. */
export function sumBy(times: readonly FrameTime[], key: (t: FrameTime) => string): Array<[string, number]> {
  const sums = new Map<string, number>();
  for (const t of times) sums.set(key(t), (sums.get(key(t)) ?? 0) + t.us);
  return [...sums].sort((a, b) => b[1] - a[1]);
}
