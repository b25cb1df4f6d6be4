import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collect, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { silentListener } from '../helpers/unresponsive.js';

/** The default connect timeout (10 s) and the time a CLI process takes to start under load. */
const CLI_BOUND_MS = 20_000;

/** One line of what went wrong and one of what to check: no stack, no password. */
function assertOneLineFailure(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.ok(lines.length <= 2, `a message and a hint, got:\n${stderr}`);
  assert.match(
    lines[0]!,
    /^sluice: cannot open the store: could not connect to the PostgreSQL store postgres:\/\/sluice:\*\*\*@127\.0\.0\.1:\d+\/sluice within 10 s \(connect timeout\)$/,
  );
  assert.match(lines[1] ?? '', /^hint: check that the server is up.*SLUICE_PG_CONNECT_TIMEOUT/);
  assert.doesNotMatch(stderr, /secret|\n\s+at /);
}

describe('the CLI against a PostgreSQL URL whose server accepts connections and never answers', () => {
  let silent: Awaited<ReturnType<typeof silentListener>>;
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    silent = await silentListener();
    ({ dir, cleanup } = await tempDir());
  });
  after(async () => {
    await silent.close();
    await cleanup();
  });

  it('status and worker fail within the connect timeout with a one-line message naming the store (redacted) and what to check', async () => {
    const started = Date.now();
    const [status, worker] = await Promise.all([
      collect(startCli(['status', '--db', silent.url], { cwd: dir })),
      collect(startCli(['worker', '--db', silent.url], { cwd: dir })),
    ]);
    const ms = Date.now() - started;
    assert.ok(ms < CLI_BOUND_MS, `both ended within ${CLI_BOUND_MS} ms (took ${ms} ms)`);
    for (const result of [status, worker]) {
      assert.equal(result.code, 1, result.stderr);
      assertOneLineFailure(result.stderr);
    }
  });

  it('SLUICE_PG_CONNECT_TIMEOUT shortens the wait; a bad value is refused by name', async () => {
    const started = Date.now();
    const quick = await collect(startCli(['status', '--db', silent.url], { cwd: dir, env: { SLUICE_PG_CONNECT_TIMEOUT: '1s' } }));
    assert.equal(quick.code, 1);
    assert.match(quick.stderr, /within 1 s \(connect timeout\)/);
    assert.ok(Date.now() - started < 10_000, `ended in ${Date.now() - started} ms`);
    const bad = await collect(startCli(['status', '--db', silent.url], { cwd: dir, env: { SLUICE_PG_QUERY_TIMEOUT: 'soon' } }));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^sluice: SLUICE_PG_QUERY_TIMEOUT must be a duration like 500ms, 30s, 5m or 2h, got "soon"/);
  });
});
