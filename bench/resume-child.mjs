/**
 * One process of bench/resume.ts: an at-least-once backfill over the `items` table whose `process`
 * appends how many items it handled to a tally file (the "external system"). Prints a line per
 * committed batch and, first, how long after the process started its first batch was committed.
 * Plain JavaScript over the compiled package (dist/), as a service embedding Sluice runs it;
 * bench/resume-child.ts is the same host run from the TypeScript sources through tsx.
 */
import { appendFileSync } from 'node:fs';
import { isOwnerDead } from '../dist/cli/context.js';
import { createSluice, defineBackfill, openSqliteStore, sqlKeyset } from '../dist/index.js';

const [path, tally] = process.argv.slice(2);
const opened = performance.now();
const store = await openSqliteStore(path);
const def = defineBackfill({
  name: 'resume', source: sqlKeyset({ table: 'items', key: 'id' }), batchSize: 1000,
  async process(batch) {
    appendFileSync(tally, `${batch.length}\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  },
});
// As the CLI does: a lease whose owner's pid is gone on this host is taken over at once.
const sluice = createSluice({ store, backfills: [def], isOwnerDead });
const handle = await sluice.start('resume');
let first = true;
handle.on('batch', () => {
  // performance.now() counts from the process's start: Node, module loading, the store, the plan.
  if (first) process.stdout.write(`${JSON.stringify({ firstCommitMs: performance.now(), sinceStoreOpenMs: performance.now() - opened })}\n`);
  first = false;
  process.stdout.write('batch\n');
});
const outcome = await handle.done;
await sluice.close();
await store.close();
process.stdout.write(`${JSON.stringify({ done: outcome.state })}\n`);
