import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { postgresStatement, SqlPlaceholderError } from '../../src/core/placeholders.js';

describe('placeholders on PostgreSQL', () => {
  it('passes $n statements and statements without parameters as written', () => {
    assert.equal(postgresStatement(`SELECT * FROM t WHERE meta ? 'src' AND id = $1`, 1), `SELECT * FROM t WHERE meta ? 'src' AND id = $1`);
    assert.equal(postgresStatement(`SELECT * FROM t WHERE meta ? 'src'`, 0), `SELECT * FROM t WHERE meta ? 'src'`);
    assert.equal(
      postgresStatement(`SELECT * FROM t WHERE meta ?| $1 AND x = $2::int[]`, 2),
      `SELECT * FROM t WHERE meta ?| $1 AND x = $2::int[]`,
    );
  });

  it('numbers ? placeholders of a statement with parameters and no $n, outside quotes and comments', () => {
    assert.equal(postgresStatement('SELECT ? , \'?\' , "a?" -- ?\n, ?', 2), 'SELECT $1 , \'?\' , "a?" -- ?\n, $2');
    // `$1` inside a string or a dollar-quoted tag is not a placeholder.
    assert.equal(postgresStatement(`SELECT '$1', x$1 FROM t WHERE id = ?`, 1), `SELECT '$1', x$1 FROM t WHERE id = $1`);
  });

  it('refuses a ? statement whose ? and parameters do not pair up, saying what to write instead', () => {
    assert.throws(
      () => postgresStatement(`UPDATE t SET a = 1 WHERE meta ? 'src' AND id = ?`, 1),
      (error: unknown) => {
        assert.ok(error instanceof SqlPlaceholderError);
        assert.equal(error.code, 'SQL_PLACEHOLDERS');
        assert.match(error.message, /has 2 "\?" but 1 parameter: UPDATE t SET a = 1 WHERE meta \? 'src' AND id = \?$/);
        assert.match(error.hint ?? '', /jsonb operators/);
        return true;
      },
    );
  });
});
