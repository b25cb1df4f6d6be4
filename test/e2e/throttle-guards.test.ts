import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

interface Status {
  run: { state: string; options: { batchSize: number }; counts: { processed: number } };
  throttle: { state: string; reason: string | null };
  decisions: Array<{ kind: string; reason: string }>;
}

async function status(dir: string, runId: string): Promise<Status> {
  const result = await runCli(['status', runId, '--json', '--db', join(dir, 'store.db')], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Status;
}

function startedRunId(line: string): string {
  return String((JSON.parse(line) as { runId: string }).runId);
}

describe('throttle guards and live retuning on real runs', () => {
  it("`sluice retune --batch-size` changes a running run's batches within one batch, recorded with the run", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      // The fourth batch holds until the test has retuned (the file 'go'), so that a loaded machine
      // cannot finish the run before the retune command is through.
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { appendFileSync, existsSync } from 'node:fs';
import { defineBackfill, iterable } from '${SLUICE}';
let batches = 0;
export default [defineBackfill<{ n: number }>({
  name: 'slow',
  source: iterable({ from: (c) => Array.from({ length: 6000 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n }),
  key: (i) => i.n,
  batchSize: 200,
  async process(batch) {
    appendFileSync('sizes.log', batch.length + '\\n');
    if (++batches === 4) while (!existsSync('go')) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 40));
  },
})];
`,
      );
      const run = startCli(['run', 'slow', '--db', join(dir, 'store.db')], { cwd: dir });
      const done = collect(run);
      const runId = startedRunId(await waitForLine(run, /"event":"started"/));
      const sizes = () =>
        existsSync(join(dir, 'sizes.log')) ? readFileSync(join(dir, 'sizes.log'), 'utf8').trim().split('\n').map(Number) : [];
      await waitFor(() => sizes().length >= 4, 'four batches', 30_000);
      const retune = await runCli(['retune', runId, '--batch-size', '50', '--reason', 'db is busy', '--db', join(dir, 'store.db')], {
        cwd: dir,
      });
      assert.equal(retune.code, 0, retune.stderr);
      assert.match(retune.stdout, /retuned: batch size 50/);
      const at = sizes().length;
      writeFileSync(join(dir, 'go'), '');
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      const after = sizes().slice(at);
      // The batch in flight (read before the retune's checkpoint was seen) may still be 200; then 50s.
      assert.ok(
        after.slice(1).every((n) => n === 50),
        `batches after the retune: ${after.join(',')}`,
      );
      assert.ok(after.filter((n) => n === 200).length <= 1, `at most one more batch of 200: ${after.join(',')}`);
      assert.equal(
        sizes().reduce((a, b) => a + b, 0),
        6000,
      );
      const s = await status(dir, runId);
      assert.equal(s.run.options.batchSize, 50);
      assert.ok(
        s.decisions.some((d) => d.kind === 'retune' && /^db is busy \(by .+\): batch size 200 → 50$/.test(d.reason)),
        JSON.stringify(s.decisions),
      );
      assert.ok(
        s.decisions.some((d) => d.kind === 'retuned'),
        'the executing worker applied it',
      );
      assert.ok(
        s.decisions.some((d) => d.kind === 'configured' && /batch size 200 \(definition\)/.test(d.reason)),
        'the effective configuration was recorded at start',
      );
    } finally {
      await cleanup();
    }
  });

  it('the memory guard pauses a run above --max-memory, collects garbage, and resumes when memory is back', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { existsSync } from 'node:fs';
import { defineBackfill, iterable } from '${SLUICE}';
// The stimulus: while a file named "grow" exists, hold ~400 MB of touched memory.
const held: Buffer[] = [];
setInterval(() => { if (!existsSync('grow')) held.length = 0; }, 50).unref();
export default [defineBackfill<{ n: number }>({
  name: 'hungry',
  source: iterable({ from: (c) => Array.from({ length: 6000 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n }),
  key: (i) => i.n,
  batchSize: 50,
  async process() {
    if (existsSync('grow') && held.length === 0) for (let i = 0; i < 8; i++) held.push(Buffer.alloc(50 * 1024 * 1024, 1));
    await new Promise((resolve) => setTimeout(resolve, 30));
  },
})];
`,
      );
      const run = startCli(['run', 'hungry', '--max-memory', '350', '--db', join(dir, 'store.db')], {
        cwd: dir,
        env: { NODE_OPTIONS: '--expose-gc' },
      });
      const done = collect(run);
      const runId = startedRunId(await waitForLine(run, /"event":"started"/));
      writeFileSync(join(dir, 'grow'), '');
      const paused = await waitFor(
        async () => {
          const s = await status(dir, runId);
          return s.throttle.state === 'paused' ? s : undefined;
        },
        'the memory guard to pause the run',
        30_000,
        100,
      );
      assert.match(paused.throttle.reason ?? '', /^memory \(RSS\) \d+ MB > 350 MB \(limit\)$/);
      const before = paused.run.counts.processed;
      // Paused means paused: no batch goes through while memory is high.
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal((await status(dir, runId)).run.counts.processed, before);
      rmSync(join(dir, 'grow'));
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      const s = await status(dir, runId);
      assert.equal(s.run.state, 'succeeded');
      assert.equal(s.run.counts.processed, 6000);
      const kinds = s.decisions.map((d) => d.kind).reverse();
      assert.ok(kinds.indexOf('paused') >= 0 && kinds.indexOf('resumed') > kinds.indexOf('paused'), kinds.join(','));
      assert.match(s.decisions.find((d) => d.kind === 'resumed')!.reason, /memory \(RSS\) \d+ MB ≤ 350 MB/);
    } finally {
      await cleanup();
    }
  });

  it("a provider's rate-limit headers pause the run until the reset; no request is sent while blocked", async () => {
    const { dir, cleanup } = await tempDir();
    // A provider with 12 pages of 25 items; the 3rd page uses up the quota until a reset 2 s later.
    let blockedUntil = 0;
    let served = 0;
    let refused = 0;
    const server: Server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const now = Date.now();
      if (now < blockedUntil) {
        refused += 1;
        res.writeHead(429, { 'retry-after': String(Math.ceil((blockedUntil - now) / 1000)) }).end('{"message":"rate limited"}');
        return;
      }
      served += 1;
      const after = Number(url.searchParams.get('after') ?? 0);
      const items = Array.from({ length: Math.max(0, Math.min(25, 300 - after)) }, (_, i) => ({ id: after + i + 1 }));
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-ratelimit-remaining': '100' };
      if (served === 3) {
        blockedUntil = now + 2000;
        headers['x-ratelimit-remaining'] = '0';
        headers['x-ratelimit-reset'] = String(Math.ceil(blockedUntil / 1000));
      }
      res.writeHead(200, headers).end(JSON.stringify(items));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { appendFileSync } from 'node:fs';
import { defineBackfill, httpRateLimit, iterable } from '${SLUICE}';
const limit = httpRateLimit({ name: 'provider' });
async function* pages(cursor: unknown) {
  let after = Number(cursor ?? 0);
  for (;;) {
    await limit.wait();
    const response = await fetch('http://127.0.0.1:${port}/items?after=' + after);
    limit.observe(response);
    if (!response.ok) throw new Error('provider answered ' + response.status);
    const items = (await response.json()) as Array<{ id: number }>;
    if (items.length === 0) return;
    yield* items;
    after = items[items.length - 1]!.id;
  }
}
export default [defineBackfill<{ id: number }>({
  name: 'provider-history',
  source: iterable({ from: pages, cursorOf: (i) => i.id }),
  key: (i) => i.id,
  batchSize: 25,
  throttle: { signals: [limit], signalIntervalMs: 100 },
  async process(batch) { appendFileSync('delivered.log', batch.map((i) => i.id).join('\\n') + '\\n'); },
})];
`,
      );
      const run = startCli(['run', 'provider-history', '--db', join(dir, 'store.db')], { cwd: dir });
      const done = collect(run);
      const runId = startedRunId(await waitForLine(run, /"event":"started"/));
      const paused = await waitFor(
        async () => {
          const s = await status(dir, runId);
          return s.decisions.find((d) => d.kind === 'paused');
        },
        'the rate limit to pause the run',
        30_000,
        50,
      );
      assert.match(paused.reason, /^provider: X-RateLimit-Remaining 0: waiting until \d{4}-\d\d-\d\dT/);
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(refused, 0, 'nothing was sent to the provider while it was rate limited');
      const delivered = readFileSync(join(dir, 'delivered.log'), 'utf8').trim().split('\n').map(Number);
      assert.equal(delivered.length, 300);
      assert.equal(new Set(delivered).size, 300);
      const s = await status(dir, runId);
      assert.equal(s.run.state, 'succeeded');
      assert.ok(
        s.decisions.some((d) => d.kind === 'resumed'),
        s.decisions.map((d) => d.kind).join(','),
      );
    } finally {
      server.close();
      await cleanup();
    }
  });

  it("a user probe slows the run while the foreground's p95 is over budget, pauses it over stopMs, and lets it go on", async () => {
    const { dir, cleanup } = await tempDir();
    // The foreground: a local service whose latency the test sets.
    let latencyMs = 0;
    const server: Server = createServer((_req, res) => {
      setTimeout(() => res.end('ok'), latencyMs);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    let run: ReturnType<typeof startCli> | undefined;
    try {
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, iterable, probe } from '${SLUICE}';
export default [defineBackfill<{ n: number }>({
  name: 'polite',
  source: iterable({ from: (c) => Array.from({ length: 100000 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n }),
  key: (i) => i.n,
  batchSize: 100,
  throttle: {
    signals: [probe({ name: 'checkout', budgetMs: 150, stopMs: 600, window: 2, run: () => fetch('http://127.0.0.1:${port}/').then((r) => r.text()) })],
    signalIntervalMs: 50,
  },
  async process() { await new Promise((resolve) => setTimeout(resolve, 10)); },
})];
`,
      );
      run = startCli(['run', 'polite', '--db', join(dir, 'store.db')], { cwd: dir });
      const done = collect(run);
      const runId = startedRunId(await waitForLine(run, /"event":"started"/));
      const until = (what: string, check: (s: Status) => boolean) =>
        waitFor(
          async () => {
            const s = await status(dir, runId);
            return check(s) ? s : undefined;
          },
          what,
          30_000,
          50,
        );
      latencyMs = 300;
      const slowed = await until('the probe to slow the run', (s) => s.throttle.state === 'slowed');
      assert.match(slowed.throttle.reason ?? '', /^checkout: p95 \d+ ms over [12] readings? > budget 150 ms: batches halved to 50$/);
      latencyMs = 900;
      const paused = await until('the probe to pause the run', (s) => s.throttle.state === 'paused');
      assert.match(paused.throttle.reason ?? '', /^checkout: p95 \d+ ms over [12] readings? > 600 ms$/);
      latencyMs = 0;
      await until(
        'the run to go on',
        (s) => s.decisions.some((d) => d.kind === 'resumed' || d.kind === 'recovered') && s.throttle.state === 'running',
      );
      const cancel = await runCli(['cancel', runId, '--db', join(dir, 'store.db')], { cwd: dir });
      assert.equal(cancel.code, 0, cancel.stderr);
      const result = await done;
      assert.equal(result.code, 4, 'cancelled (exit 4)');
    } finally {
      if (run && run.exitCode === null) run.kill('SIGKILL');
      server.closeAllConnections();
      server.close();
      await cleanup();
    }
  });

  it('a lagging event loop makes the lanes yield between batches (slowed), and they stop yielding when it recovers', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { existsSync } from 'node:fs';
import { defineBackfill, iterable } from '${SLUICE}';
// The stimulus: while a file named "block" exists, something in the host hogs the event loop.
setInterval(() => { if (existsSync('block')) { const end = Date.now() + 120; while (Date.now() < end); } }, 150).unref();
export default [defineBackfill<{ n: number }>({
  name: 'embedded',
  source: iterable({ from: (c) => Array.from({ length: 200000 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n }),
  key: (i) => i.n,
  batchSize: 100,
  async process() { await new Promise((resolve) => setTimeout(resolve, 5)); },
})];
`,
      );
      const run = startCli(['run', 'embedded', '--db', join(dir, 'store.db')], { cwd: dir, env: { SLUICE_MAX_EVENT_LOOP_LAG_MS: '50' } });
      const done = collect(run);
      const runId = startedRunId(await waitForLine(run, /"event":"started"/));
      writeFileSync(join(dir, 'block'), '');
      const slowed = await waitFor(
        async () => {
          const s = await status(dir, runId);
          return s.throttle.state === 'slowed' ? s : undefined;
        },
        'the lag guard to slow the run',
        30_000,
        100,
      );
      assert.match(slowed.throttle.reason ?? '', /^event loop lag p99 \d+ ms > 50 ms: yielding \d+ ms between batches$/);
      rmSync(join(dir, 'block'));
      await waitFor(
        async () =>
          (await status(dir, runId)).decisions.some((d) => d.kind === 'recovered' && /event loop lag back under 50 ms/.test(d.reason)),
        'the lag guard to recover',
        30_000,
        100,
      );
      const cancel = await runCli(['cancel', runId, '--db', join(dir, 'store.db')], { cwd: dir });
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.equal((await done).code, 4);
      const configured = (await status(dir, runId)).decisions.find((d) => d.kind === 'configured')!;
      assert.match(configured.reason, /event-loop lag limit 50 ms \(SLUICE_MAX_EVENT_LOOP_LAG_MS\)/);
    } finally {
      await cleanup();
    }
  });
});
