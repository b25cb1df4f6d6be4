/**
 * One process of bench/resume.ts: an at-least-once backfill over the `items` table whose `process`
 * appends how many items it handled to a tally file (the "external system"). Prints a line per
 * committed batch and, first, how long after the process started its first batch was committed.
 * Plain JavaScript over the compiled package (dist/), as a service embedding Sluice runs it; with
 * `--from-sources` (under `node --import tsx`) over the TypeScript sources instead.
 */
import { appendFileSync } from 'node:fs';

const fromSources = process.argv[4] === '--from-sources';
const built = (path) => new URL(`../${fromSources ? 'src' : 'dist'}/${path}${fromSources ? '.ts' : '.js'}`, import.meta.url).href;
const { createSluice, defineBackfill, sqlKeyset } = await import(built('index'));
const { openSqliteStore } = await import(built('sqlite'));

const [path, tally] = process.argv.slice(2);
const opened = performance.now();
const store = await openSqliteStore(path);
const def = defineBackfill({
  name: 'resume',
  source: sqlKeyset({ table: 'items', key: 'id' }),
  batchSize: 1000,
  async process(batch) {
    appendFileSync(tally, `${batch.length}\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  },
});
// By default, as the CLI does: a lease whose owner's pid is gone on this host is taken over at once.
const sluice = createSluice({ store, backfills: [def] });
const handle = await sluice.start('resume');
let first = true;
handle.on('batch', () => {
  // performance.now() counts from the process's start: Node, module loading, the store, the plan.
  if (first)
    process.stdout.write(`${JSON.stringify({ firstCommitMs: performance.now(), sinceStoreOpenMs: performance.now() - opened })}\n`);
  first = false;
  process.stdout.write('batch\n');
});
const outcome = await handle.done;
await sluice.close();
await store.close();
process.stdout.write(`${JSON.stringify({ done: outcome.state })}\n`);
