/**
 * Narrow and wide rows for the benchmarks that read a table (engine overhead, the real backfill,
 * the overhead profile): `--body-bytes N` adds a `body` text column of N bytes to every row, which
 * the hand-written loops and Sluice both read, so that the comparison stays like for like on rows
 * whose parsing costs more than their bookkeeping. 0 (the default) keeps today's narrow rows.
 */

/** `--body-bytes`, checked: a whole number of bytes, 0 for none. */
export function bodyBytesArg(value: string | undefined): number {
  const bytes = Number(value ?? '0');
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`--body-bytes must be a whole number of bytes (0: narrow rows), got ${value}`);
  return bytes;
}

/** How the tables name the row width: "narrow rows" or "wide rows (a 1,500-byte text column)". */
export function rowWidth(bodyBytes: number): string {
  return bodyBytes === 0 ? 'narrow rows' : `wide rows (a ${bodyBytes.toLocaleString('en-US')}-byte text column)`;
}

/** "1,000,000 narrow rows", "200,000 wide rows (a 1,500-byte text column)". */
export function rowsLabel(rows: number, bodyBytes: number): string {
  return `${rows.toLocaleString('en-US')} ${rowWidth(bodyBytes)}`;
}

/** Words some bodies hold, so that a scoring function reading the body finds something. */
const MARKER = 'unsubscribe ';

/**
 * The PostgreSQL column for `CREATE TABLE` (`, body text NOT NULL`, or '' for narrow rows) and the
 * expression filling it from the generated id `g`: exactly `bodyBytes` ASCII bytes, a third of them
 * starting with the marker. Stored uncompressed (`storage`, to run after the CREATE), so that a body
 * past the TOAST threshold costs what its bytes do rather than what pglz makes of a repeated hash.
 */
export function pgBodyColumn(table: string, bodyBytes: number): { definition: string; value: (g: string) => string; storage: string[] } {
  if (bodyBytes === 0) return { definition: '', value: () => '', storage: [] };
  const repeats = Math.ceil(bodyBytes / 32) + 1;
  return {
    definition: ', body text NOT NULL',
    value: (g) => `, left(CASE WHEN ${g} % 3 = 0 THEN '${MARKER}' ELSE '' END || repeat(md5(${g}::text), ${repeats}), ${bodyBytes})`,
    storage: [`ALTER TABLE ${table} ALTER COLUMN body SET STORAGE EXTERNAL`],
  };
}

/** The SQLite body of row `id` (the same shape as PostgreSQL's), from a filler built once per size. */
export function sqliteBody(id: number, bodyBytes: number): string {
  const head = id % 3 === 0 ? `${MARKER}${id} ` : `${id} `;
  return (head + filler(bodyBytes)).slice(0, bodyBytes);
}

let fillers: { bytes: number; text: string } | undefined;
function filler(bytes: number): string {
  if (fillers?.bytes !== bytes) {
    let text = '';
    for (let i = 0; text.length < bytes; i++) text += `${i.toString(16).padStart(8, '0')}abcdefghijklmnopqrstuvw`;
    fillers = { bytes, text };
  }
  return fillers.text;
}
