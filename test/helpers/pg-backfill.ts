import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { itemsTable } from './items-table.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

/**
 * For tests that run `sluice` processes against PostgreSQL: `itemsTable`, and a config with a
 * transactional backfill `pgjob` that scores each row (and counts its writes), sleeping
 * `BATCH_DELAY_MS` (from the process's environment) per batch.
 */
export async function pgItemsBackfill(prefix: string, rows: number) {
  const t = await itemsTable(prefix, rows);
  writeFileSync(
    t.configPath,
    `import { defineBackfill, sqlKeyset } from '${SLUICE}';
export default [
  defineBackfill<{ id: string; value: number }>({
    name: 'pgjob',
    source: sqlKeyset({ table: '${t.schema}.items', key: 'id', where: 'result IS NULL', columns: ['id', 'value'] }),
    delivery: 'transactional',
    batchSize: 200,
    async process(batch, ctx) {
      await ctx.tx!.executeMany('UPDATE "${t.schema}".items SET result = ?, writes = writes + 1 WHERE id = ?', batch.map((r) => [r.value * 2, r.id]));
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.BATCH_DELAY_MS ?? 0)));
    },
  }),
];
`,
  );
  return t;
}
