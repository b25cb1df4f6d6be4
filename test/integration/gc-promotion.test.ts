import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const diagnostic = fileURLToPath(new URL('../../bench/gc-promotion.ts', import.meta.url));

/**
 * A batch's rows must die young: a getter in the per-batch `ctx` literal once kept nearly every
 * batch's rows alive until V8's next full collection (84 MB promoted on 1,000,000 rows against
 * 2 MB), which cost a third of the engine's speed and pushed memory past its target. What the
 * young-generation collections promote during a no-op run is a count of bytes, not a time: it
 * barely moves with the machine's load. bench/gc-promotion.ts measures it in a child process under
 * `--trace-gc-nvp` and judges it against 5 MB and 5 MB per 1,000,000 rows (a run promotes a few MB
 * whatever its length).
 */
describe('rows outliving their batch', () => {
  it('a no-op run of 300,000 rows promotes at most 6.5 MB to the old space (the regression promoted 19-24 MB)', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', diagnostic, '--rows', '300000'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const row = /\| (\d+) \| ([\d.]+) MB \| \d+ ms \|/.exec(out);
    assert.ok(row, `the diagnostic printed no result row:\n${out}`);
    assert.ok(Number(row[1]) > 0, `no scavenge was seen, so nothing was measured:\n${out}`);
    assert.ok(Number(row[2]) <= 6.5, `${row[2]} MB promoted during the run: rows outlive their batch\n${out}`);
    assert.match(out, /target rows die with their batch: promoted ≤ 5 MB and 5 MB per 1,000,000 rows: met \([\d.]+ of 6\.5 MB\)/);
  });
});
