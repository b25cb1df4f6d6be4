import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CpuProfile, placeOf, selfTimes, sumBy } from '../../bench/cpu-profile.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
const core = { group: 'Sluice core', detail: 'core/batch-runner' };

describe('CPU profile grouping (bench/overhead-profile.ts)', () => {
  it("places frames by where their code lives: Sluice's files, the drivers, Node, V8's pseudo-frames", () => {
    assert.deepEqual(placeOf(frame('runBatch', 'file:///repo/dist/core/batch-runner.js'), undefined), core);
    assert.deepEqual(placeOf(frame('read', 'file:///repo/src/sources/sql-keyset.ts'), undefined), {
      group: 'Sluice sources',
      detail: 'sources/sql-keyset',
    });
    assert.equal(
      placeOf(frame('checkpoint', 'file:///repo/dist/stores/postgres/batch-commit.js'), undefined).group,
      'Sluice store adapters',
    );
    assert.equal(
      placeOf(frame('parseRow', 'file:///repo/node_modules/pg/lib/result.js'), undefined).group,
      'pg (driver: rows into objects, queries, pool)',
    );
    assert.equal(
      placeOf(frame('parse', 'file:///repo/node_modules/pg-protocol/dist/parser.js'), undefined).group,
      'pg-protocol (wire messages, text decoding)',
    );
    assert.equal(placeOf(frame('write', 'file:///repo/node_modules/pino/lib/proto.js'), undefined).group, 'pino (logging)');
    assert.equal(placeOf(frame('writev', 'node:internal/stream_base_commons'), undefined).group, 'Node internals');
    assert.equal(placeOf(frame('(garbage collector)'), undefined).group, 'GC');
    assert.equal(placeOf(frame('(idle)'), undefined).group, 'idle (waiting for I/O)');
  });

  it("counts native frames where their caller lives, but better-sqlite3's statement methods under SQLite code as SQLite's", () => {
    assert.deepEqual(placeOf(frame('stringify'), core), core);
    const sqliteStore = { group: 'Sluice store adapters', detail: 'stores/sqlite/sqlite-connection' };
    assert.equal(placeOf(frame('all'), sqliteStore).group, 'better-sqlite3 (statements, in SQLite)');
    assert.deepEqual(placeOf(frame('all'), core), core, 'Array-like names under other code stay with their caller');
  });

  it('gives each sample the time until the next one, within the window asked for', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 4] },
        { id: 2, callFrame: frame('runBatch', 'file:///repo/dist/core/batch-runner.js'), children: [3] },
        { id: 3, callFrame: frame('stringify'), children: [] },
        { id: 4, callFrame: frame('(garbage collector)'), children: [] },
      ],
      startTime: 1000,
      endTime: 1100,
      samples: [2, 3, 4, 2],
      timeDeltas: [0, 10, 30, 40],
    };
    // Samples at 1000, 1010, 1040, 1080: runBatch 10 + 20, stringify (counted in batch-runner) 30, GC 40.
    const whole = selfTimes(profile);
    assert.deepEqual(
      sumBy(whole, (t) => t.place.group),
      [
        ['Sluice core', 60],
        ['GC', 40],
      ],
    );
    assert.deepEqual(
      sumBy(selfTimes(profile, 1010, 1080), (t) => t.place.group),
      [
        ['GC', 40],
        ['Sluice core', 30],
      ],
    );
  });
});
