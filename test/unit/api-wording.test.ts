import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiWording } from '../../src/server/api/api-wording.js';

describe('apiWording', () => {
  it('names a command-line flag as the API field it is', () => {
    assert.equal(apiWording('--since must be a duration like 7d, got "x"'), 'since must be a duration like 7d, got "x"');
    assert.equal(apiWording('give --batch-size or (--max-memory-mb)'), 'give batchSize or (maxMemoryMb)');
  });
  it('leaves dashes that are no flag alone', () => {
    assert.equal(apiWording('item a--b failed -- retry 2024-05-01'), 'item a--b failed -- retry 2024-05-01');
  });
});
