import { coverage, defineBackfill, parity, sqlKeyset, uniqueness, type SqlTransaction } from 'sluice';

/** A raw snapshot row as the game server archived it: a JSON payload, sometimes truncated. */
export interface RawSnapshot {
  id: number;
  captured_at: string;
  payload: string;
}

interface PlayerSnapshot {
  player: { id: number; name: string; level: number };
  inventory: Array<{ item: number; qty: number }>;
}

/** A payload that is not a player snapshot: quarantined as PARSE_ERROR (no retry would help). */
class ParseError extends Error {
  readonly errorClass = 'PARSE_ERROR';
  readonly permanent = true;
}

function parse(row: RawSnapshot): PlayerSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(row.payload);
  } catch (error) {
    throw new ParseError(`snapshot ${row.id}: ${(error as Error).message}`);
  }
  const snapshot = value as Partial<PlayerSnapshot>;
  if (!snapshot?.player || typeof snapshot.player.id !== 'number' || !Array.isArray(snapshot.inventory)) {
    throw new ParseError(`snapshot ${row.id}: no player or inventory`);
  }
  return snapshot as PlayerSnapshot;
}

/**
 * The same code path the real-time consumer runs: normalize one snapshot into `players` and
 * `inventory` with upserts (unique constraints make a repeat harmless), creating a placeholder
 * `catalog` row for an item the catalog does not know yet, recorded in `placeholders` so that it
 * can be replaced when the catalog catches up.
 */
export async function normalize(tx: SqlTransaction, row: RawSnapshot): Promise<void> {
  const { player, inventory } = parse(row);
  await tx.execute(
    `INSERT INTO players (id, name, level, snapshot_id) VALUES (?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level, snapshot_id = excluded.snapshot_id`,
    [player.id, player.name, player.level, row.id],
  );
  for (const { item, qty } of inventory) {
    const created = await tx.execute('INSERT INTO catalog (id, name, placeholder) VALUES (?, ?, 1) ON CONFLICT (id) DO NOTHING', [
      item,
      `unknown item ${item}`,
    ]);
    if (created.changes > 0) await tx.execute('INSERT INTO placeholders (item_id, snapshot_id) VALUES (?, ?)', [item, row.id]);
    await tx.execute(
      `INSERT INTO inventory (player_id, item_id, qty) VALUES (?, ?, ?)
      ON CONFLICT (player_id, item_id) DO UPDATE SET qty = excluded.qty`,
      [player.id, item, qty],
    );
  }
}

/** Seed 001: historical JSON snapshots into normalized tables, malformed ones quarantined, checked after. */
export const snapshotEtl = defineBackfill<RawSnapshot>({
  name: 'snapshot-etl',
  description: 'normalize archived player snapshots into players, inventory and catalog',
  source: sqlKeyset({ table: 'raw_snapshots', key: 'id', columns: ['id', 'captured_at', 'payload'], sinceColumn: 'captured_at' }),
  delivery: 'transactional',
  // The permanent ledger: a re-run (or a deeper range) normalizes only snapshots not done before.
  dedup: true,
  batchSize: 100,
  // Malformed archives are expected (seed 001 saw some); a run pauses only past 10 % of them.
  maxFailureRatio: 0.1,
  verify: [
    parity({
      name: 'parity: one player per distinct well-formed snapshot player',
      source: 'SELECT COUNT(DISTINCT player_id) FROM raw_snapshots WHERE player_id IS NOT NULL',
      target: 'SELECT COUNT(*) FROM players',
    }),
    uniqueness({ table: 'inventory', columns: ['player_id', 'item_id'] }),
    coverage({ name: 'every inventory item is in the catalog', table: 'inventory', done: 'item_id IN (SELECT id FROM catalog)' }),
  ],
  async process(rows, ctx) {
    for (const row of rows) await normalize(ctx.tx!, row);
  },
});
