/**
 * The child of bench/gc-promotion-measure.ts: a no-op transactional backfill over the `items`
 * table of the SQLite file given, between two markers, so that the parent counts only the run's
 * collections (not loading modules, not opening the store).
 *
 *   node --trace-gc-nvp --import tsx bench/gc-promotion-child.ts <file> <rows>
 */
import { openSqliteStore } from '../src/sqlite.js';
import { timeNoopBackfill } from './noop-backfill.js';

const [path, rows] = process.argv.slice(2);
const store = await openSqliteStore(path!);
console.log('RUN-START');
await timeNoopBackfill(store, 'items', Number(rows), 1000);
console.log('RUN-END');
