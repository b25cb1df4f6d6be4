/**
 * Where the CPU of Sluice's process goes on a no-op backfill: the engine-overhead run (a no-op
 * transactional backfill over a keyset source, batches of 1,000) on PostgreSQL and on SQLite, on
 * narrow rows and on wide ones (`--body-bytes`), each in a fresh process of the compiled package
 * under V8's sampling profiler (bench/overhead-profile-child.mjs). Prints, as Markdown:
 *
 * - the run's fixed cost: opening the store, the start call to the first batch, the last batch to
 *   the outcome, against the whole run;
 * - self time grouped by where the code lives (Sluice's core by file, its sources and store
 *   adapters, the `pg` driver and `pg-protocol`, better-sqlite3, pino, Node's internals, GC, idle),
 *   over the whole run and over its first phase alone (start to first batch);
 * - the hottest functions of each run, and its garbage collections.
 *
 * A diagnostic, not in `npm run bench`'s list: one run per cell, and the profiler costs some speed.
 *
 *   node --import tsx bench/overhead-profile.ts [--rows 200000] [--batch-size 1000] [--body-bytes 1500] [--stores postgres,sqlite]
 *     [--interval-us 250] [--top 8] [--pino] [--keep <dir>]
 *
 * `--body-bytes 0` profiles narrow rows only; `--pino` gives the engine the CLI's logger (pino at
 * info, into /dev/null); `--keep` writes each run's .cpuprofile there (open it in Chrome DevTools).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ensureBuilt } from './built.js';
import { GROUPS, selfTimes, sumBy, type CpuProfile, type FrameTime } from './cpu-profile.js';
import { createPgItemsTable, seedSqliteItems } from './items-table.js';
import { dropBenchSchemas } from './real-backfill-shared.js';
import { bodyBytesArg, rowWidth } from './row-width.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    'batch-size': { type: 'string', default: '1000' },
    'body-bytes': { type: 'string', default: '1500' },
    stores: { type: 'string', default: 'postgres,sqlite' },
    'interval-us': { type: 'string', default: '250' },
    top: { type: 'string', default: '8' },
    pino: { type: 'boolean', default: false },
    keep: { type: 'string' },
    pg: { type: 'string', default: process.env.SLUICE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const rows = Number(values.rows);
const batchSize = Number(values['batch-size']);
const wide = bodyBytesArg(values['body-bytes']);
const widths = wide > 0 ? [0, wide] : [0];
const stores = values.stores!.split(',').filter(Boolean);
for (const store of stores) if (store !== 'postgres' && store !== 'sqlite') throw new Error(`--stores: postgres or sqlite, got ${store}`);
const top = Number(values.top);
const url = values.pg!;

interface ChildReport {
  storeOpenUs: number;
  marks: { start: number; firstBatch: number; lastBatch: number; done: number };
  batches: number;
  gc: { minor: { count: number; ms: number }; major: { count: number; ms: number } };
}

interface Cell {
  label: string;
  report: ChildReport;
  whole: FrameTime[];
  startup: FrameTime[];
}

const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`;
const share = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;
const sum = (times: readonly FrameTime[]) => times.reduce((total, t) => total + t.us, 0);

function profileRun(label: string, config: Record<string, unknown>, dir: string): Cell {
  const profilePath = join(dir, `${label.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`);
  const child = new URL('./overhead-profile-child.mjs', import.meta.url).pathname;
  const out = execFileSync(
    process.execPath,
    [
      child,
      JSON.stringify({ ...config, rows, batchSize, pino: values.pino, intervalUs: Number(values['interval-us']), profile: profilePath }),
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const report = JSON.parse(out.trim().split('\n').at(-1)!) as ChildReport;
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  if (values.keep) {
    mkdirSync(values.keep, { recursive: true });
    copyFileSync(profilePath, join(values.keep, profilePath.replace(/^.*\//, '')));
  }
  console.error(`  profiled ${label}: ${ms(report.marks.done - report.marks.start)}`);
  return {
    label,
    report,
    whole: selfTimes(profile, report.marks.start, report.marks.done),
    startup: selfTimes(profile, report.marks.start, report.marks.firstBatch),
  };
}

function printFixedCost(cells: readonly Cell[]): void {
  console.log(`### The run's fixed cost: ${rows.toLocaleString('en-US')} rows, batch size ${batchSize}, one profiled run each\n`);
  console.log(
    '| run | whole run | opening the store (before it) | start call → first batch | last batch → outcome | fixed share of the run | batches |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { label, report } of cells) {
    const { start, firstBatch, lastBatch, done } = report.marks;
    const fixed = firstBatch - start + (done - lastBatch);
    console.log(
      `| ${label} | ${ms(done - start)} | ${ms(report.storeOpenUs)} | ${ms(firstBatch - start)} | ${ms(done - lastBatch)} | ${share(fixed, done - start)} | ${report.batches} |`,
    );
  }
  console.log('');
}

/** One row per group (Sluice's groups also per file), one column per run: self time and its share of the run's samples. */
function printGroups(title: string, cells: readonly Cell[], pick: (cell: Cell) => FrameTime[]): void {
  console.log(`### ${title}\n`);
  console.log(`| where the code lives | ${cells.map((c) => c.label).join(' | ')} |`);
  console.log(`| --- | ${cells.map(() => '---:').join(' | ')} |`);
  const byGroup = cells.map((cell) => new Map(sumBy(pick(cell), (t) => t.place.group)));
  const byFile = cells.map((cell) => new Map(sumBy(pick(cell), (t) => `${t.place.group}\t${t.place.detail}`)));
  const totals = cells.map((cell) => sum(pick(cell)));
  const row = (name: string, values: number[]) =>
    console.log(`| ${name} | ${values.map((us, i) => (us > 0 ? `${ms(us)} (${share(us, totals[i]!)})` : '—')).join(' | ')} |`);
  for (const group of GROUPS) {
    const values = byGroup.map((sums) => sums.get(group) ?? 0);
    if (values.every((us) => us === 0)) continue;
    row(group.startsWith('Sluice') ? `**${group}**` : group, values);
    if (!group.startsWith('Sluice')) continue;
    // Sluice's files that weigh at least 0.5 % in some run.
    const files = new Set(byFile.flatMap((sums) => [...sums.keys()].filter((k) => k.startsWith(`${group}\t`))));
    const listed = [...files]
      .map((key) => ({ key, values: byFile.map((sums) => sums.get(key) ?? 0) }))
      .filter(({ values: v }) => v.some((us, i) => us >= totals[i]! * 0.005))
      .sort((a, b) => Math.max(...b.values) - Math.max(...a.values));
    for (const { key, values: v } of listed) row(`&nbsp;&nbsp;${key.split('\t')[1]}`, v);
  }
  row('**all samples**', totals);
  const cpu = totals.map((total, i) => total - (byGroup[i]!.get('idle (waiting for I/O)') ?? 0));
  row('**CPU (all but idle)**', cpu);
  console.log('');
}

function printHottest(cells: readonly Cell[]): void {
  console.log(`### The ${top} hottest functions of each run (self time)\n`);
  for (const cell of cells) {
    const total = sum(cell.whole);
    const hottest = sumBy(cell.whole, (t) => `${t.name} — ${t.place.group}`)
      .filter(([name]) => !name.startsWith('(idle)'))
      .slice(0, top);
    const { minor, major } = cell.report.gc;
    console.log(
      `- **${cell.label}**: ${hottest.map(([name, us]) => `${name.replace(' — ', ' (')}) ${ms(us)}, ${share(us, total)}`).join('; ')}. ` +
        `GC: ${minor.count} scavenges (${minor.ms.toFixed(0)} ms), ${major.count} mark-compacts and others (${major.ms.toFixed(0)} ms)`,
    );
  }
  console.log('');
}

ensureBuilt();
const dir = mkdtempSync(join(tmpdir(), 'sluice-profile-'));
const schema = `bench_profile_${randomBytes(4).toString('hex')}`;
const schemas: string[] = [];
try {
  const cells: Cell[] = [];
  for (const bodyBytes of widths) {
    for (const store of stores) {
      const label = `${store === 'postgres' ? 'PostgreSQL' : 'SQLite'}, ${rowWidth(bodyBytes)}`;
      if (store === 'sqlite') {
        const path = join(dir, `items-${bodyBytes}.db`);
        seedSqliteItems(path, rows, bodyBytes);
        cells.push(profileRun(label, { store, path, table: 'items' }, dir));
      } else {
        const cellSchema = `${schema}_${bodyBytes}`;
        schemas.push(cellSchema);
        const table = await createPgItemsTable(url, cellSchema, rows, bodyBytes);
        cells.push(profileRun(label, { store, url, storeSchema: `${cellSchema}_sluice`, table }, dir));
      }
    }
  }
  console.log(`# Where the time of Sluice's process goes: a no-op transactional backfill\n`);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; compiled package, V8 sampling every ${values['interval-us']} µs` +
      `${values.pino ? ', pino logger at info' : ', no logger (the library default)'}\n`,
  );
  printFixedCost(cells);
  printGroups('Self time by where the code lives, whole run (start call to outcome)', cells, (c) => c.whole);
  printGroups('Self time by where the code lives, start call to first batch only', cells, (c) => c.startup);
  printHottest(cells);
  if (stores.includes('sqlite'))
    console.log(
      "On SQLite, the self time of the store's frame that runs a statement (`querySync`) is mostly better-sqlite3 building the rows: " +
        'V8 charges part of a C++ callback to its JavaScript caller (a bare loop calling `all()` shows the same).\n',
    );
} finally {
  for (const s of schemas) await dropBenchSchemas(url, s);
  rmSync(dir, { recursive: true, force: true });
}
