import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measurePromotion, promotionGuardMb } from '../../bench/gc-promotion-measure.js';

/**
 * A batch's rows must die young: a getter in the per-batch `ctx` literal once kept nearly every
 * batch's rows alive until V8's next full collection (84 MB promoted on 1,000,000 rows against
 * 2 MB), which cost a third of the engine's speed and pushed memory past its target. What the
 * young-generation collections promote during a no-op run is a count of bytes, not a time: it
 * barely moves with the machine's load. bench/gc-promotion-measure.ts measures it in a child
 * process under `--trace-gc-nvp`; the guard is 5 MB and 5 MB per 1,000,000 rows.
 */
describe('rows outliving their batch', () => {
  it('a no-op run of 300,000 rows promotes at most 6.5 MB to the old space (the regression promoted 19-24 MB)', () => {
    const rows = 300_000;
    const { scavenges, promotedBytes } = measurePromotion(rows);
    assert.ok(scavenges > 0, 'no scavenge was seen during the run, so nothing was measured');
    assert.equal(promotionGuardMb(rows), 6.5);
    const mb = promotedBytes / 1e6;
    assert.ok(mb <= promotionGuardMb(rows), `${mb.toFixed(1)} MB promoted during the run: rows outlive their batch`);
  });
});
