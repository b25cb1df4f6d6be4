import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorTextIn, type FrontEndTerms, inTermsOf } from '../../src/core/error-terms.js';
import { InvalidTransitionError, NotFoundError, RunAlreadySucceededError, RunQueuedError, StoreError } from '../../src/core/errors.js';
import { apiTerms } from '../../src/server/api/api-wording.js';

const terms: FrontEndTerms = {
  options: { since: '--since' },
  calls: { retry: ([run]) => `do retry ${run}`, listRuns: () => 'do list', pair: (args) => `pair ${args.join('+')}` },
};

describe('inTermsOf', () => {
  it('writes the quoted options and calls the map has a name for, and leaves the rest as the library words them', () => {
    assert.equal(inTermsOf('`since` and `batchSize`', terms), '--since and `batchSize`');
    assert.equal(
      inTermsOf("use `retry('r_1')`; list runs with `listRuns()`; `resume('r_1')` stays", terms),
      "use `do retry r_1`; list runs with `do list`; `resume('r_1')` stays",
    );
    assert.equal(inTermsOf(`\`pair('a', "b")\``, terms), '`pair a+b`', 'arguments unquoted, in order');
    assert.equal(
      inTermsOf('since, retry(r_1) and `not an option`', terms),
      'since, retry(r_1) and `not an option`',
      'only backticked terms',
    );
  });

  it("words a hint whole where the front end has its own for the error's code, and rewrites the message either way", () => {
    const own: FrontEndTerms = { ...terms, hints: { NOT_FOUND: () => 'try `listRuns()`' } };
    const error = new NotFoundError('no run "r_1" (`since` was 7d)', { hint: 'list runs with `listRuns()`' });
    assert.deepEqual(errorTextIn(error, terms), { message: 'no run "r_1" (--since was 7d)', hint: 'list runs with `do list`' });
    assert.deepEqual(errorTextIn(error, own), { message: 'no run "r_1" (--since was 7d)', hint: 'try `do list`' });
    assert.deepEqual(errorTextIn(new NotFoundError('gone'), terms), { message: 'gone', hint: undefined });
  });
});

describe("the admin API's terms", () => {
  const api = apiTerms('');
  const text = (error: Parameters<typeof errorTextIn>[0]) => errorTextIn(error, api).hint;

  it('names the route that does what the library call does', () => {
    assert.equal(text(new InvalidTransitionError('x', { hint: "use `retry('r_1')`" })), 'use `POST /api/v1/runs/r_1/retry`');
    assert.equal(text(new InvalidTransitionError('x', { hint: "use `resume('r_1')`" })), 'use `POST /api/v1/runs/r_1/resume`');
    assert.equal(text(new RunQueuedError('r_2', 'r_1', 'queued')), 'it starts when run r_1 ends; `GET /api/v1/runs/r_2` shows the queue');
    assert.equal(text(new NotFoundError('x', { hint: 'list runs with `listRuns()`' })), 'list runs with `GET /api/v1/runs`');
  });

  it("answers a success's 409 with the body fields of POST /api/v1/runs, not the library's options", () => {
    const hint = text(new RunAlreadySucceededError({ id: 'r_1', backfill: 'b', finishedAt: null }))!;
    assert.match(hint, /send `"new": true` with `POST \/api\/v1\/runs`/);
    assert.match(hint, /`"mode": "reprocess-all"`/);
    assert.doesNotMatch(hint, /newRun|`reprocess`/);
  });

  it("puts the prefix a service mounted the API under before the routes, and keeps the library's words where the API has none", () => {
    assert.equal(
      errorTextIn(new NotFoundError('x', { hint: "use `resume('r_1')` or `listRuns()`" }), apiTerms('/admin/sluice')).hint,
      'use `POST /admin/sluice/api/v1/runs/r_1/resume` or `GET /admin/sluice/api/v1/runs`',
    );
    const store = new StoreError('damaged', { hint: "run `storeFileProblems('/x.db', 'full')` or pass `path`" });
    assert.equal(text(store), "run `storeFileProblems('/x.db', 'full')` or pass `path`");
  });
});
