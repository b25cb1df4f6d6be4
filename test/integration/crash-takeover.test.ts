import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createSluice, defineBackfill, iterable } from '../../src/index.js';
import { openSqliteStore } from '../../src/sqlite.js';
import { tempDir } from '../helpers/temp.js';

const SRC = (path: string) => pathToFileURL(new URL(`../../src/${path}`, import.meta.url).pathname).href;
const ITEMS = 200;
/** Far longer than the test may take: a restart that waited for the lease would time out. */
const LEASE_MS = 600_000;

/** The service's backfill, as both the crashed process and its restart define it. */
const SERVICE = `
const { createSluice, defineBackfill, iterable } = await import(${JSON.stringify(SRC('index.ts'))});
const { openSqliteStore } = await import(${JSON.stringify(SRC('sqlite.ts'))});
const store = await openSqliteStore(process.argv[2]);
const def = defineBackfill({
  name: 'slow', key: (i) => i.id, batchSize: 10, concurrency: 1,
  source: iterable({ from: (after) => Array.from({ length: ${ITEMS} - Number(after ?? 0) }, (_, i) => ({ id: Number(after ?? 0) + i + 1 })), cursorOf: (i) => i.id }),
  async process() { await new Promise((resolve) => setTimeout(resolve, 20)); },
});
// No isOwnerDead: the library's default. AS_PARENT: this process leases under its parent's pid, as
// an earlier process with the pid the restart gets (a container's node restarted as pid 1 again).
const { hostname } = await import('node:os');
const worker = process.env.AS_PARENT ? { id: hostname() + ':' + process.ppid + ':earlier', host: hostname(), pid: process.ppid } : undefined;
const sluice = createSluice({ store, backfills: [def], leaseMs: ${LEASE_MS}, ...(worker ? { worker } : {}) });
const run = await sluice.start('slow');
run.on('batch', () => process.stdout.write('batch\\n'));
await run.done;
`;

/**
 * A service embedding Sluice that is killed and restarted on the same host resumes its run at
 * once: by default the engine sees that the lease's owner, a pid of this host, is gone, instead of
 * waiting out the lease (ten minutes here).
 */
describe('a crashed service restarted on the same host', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    writeFileSync(join(dir, 'service.mjs'), SERVICE);
  });
  after(async () => cleanup());

  for (const [name, asParent] of [
    ["takes over the dead process's partitions at once and finishes the run", false],
    ['takes them over at once when the dead process had the pid the restart has (a restarted container)', true],
  ] as const)
    it(name, async () => {
      await crashAndRestart(join(dir, `store-${asParent ? 'same-pid' : 'other-pid'}.db`), asParent);
    });

  async function crashAndRestart(db: string, asParent: boolean): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'service.mjs'), db], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...(asParent ? { AS_PARENT: '1' } : {}) },
    });
    const closed = once(child, 'close');
    let batches = 0;
    const committed = new Promise<void>((resolve) =>
      child.stdout!.on('data', (chunk: Buffer) => {
        batches += chunk
          .toString()
          .split('\n')
          .filter((line) => line === 'batch').length;
        if (batches >= 3) resolve();
      }),
    );
    // A service that ends before its third batch (it failed to start) fails the test rather than hanging it.
    await Promise.race([
      committed,
      closed.then(([code]) => {
        throw new Error(`the service exited (code ${String(code)}) after ${batches} batches, before it was killed`);
      }),
    ]);
    child.kill('SIGKILL');
    const [, signal] = (await closed) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL');

    const store = await openSqliteStore(db);
    const def = defineBackfill<{ id: number }>({
      name: 'slow',
      key: (i) => i.id,
      batchSize: 10,
      concurrency: 1,
      source: iterable({
        from: (after) => Array.from({ length: ITEMS - Number(after ?? 0) }, (_, i) => ({ id: Number(after ?? 0) + i + 1 })),
        cursorOf: (i) => i.id,
      }),
      async process() {},
    });
    const sluice = createSluice({ store, backfills: [def], leaseMs: LEASE_MS });
    try {
      const run = await sluice.start('slow');
      const outcome = await Promise.race([
        run.done,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the restart waited for the lease')), 20_000).unref()),
      ]);
      assert.equal(outcome.state, 'succeeded');
      const transitions = await store.listTransitions(outcome.runId);
      // As the CLI's log shows it (docs/concepts.md): running → paused by sluice, then running again.
      assert.ok(
        transitions.some((t) => t.from === 'running' && t.to === 'paused' && t.actor === 'sluice'),
        `the dead process's run was paused by sluice before it was taken over: ${JSON.stringify(transitions)}`,
      );
      const partitions = await store.listPartitions(outcome.runId);
      assert.ok(
        partitions.every((p) => p.state === 'done'),
        `every partition done: ${JSON.stringify(partitions.map((p) => p.state))}`,
      );
    } finally {
      await sluice.close();
      await store.close();
    }
  }
});
