import { UsageError } from './errors.js';

/**
 * Placeholders on PostgreSQL. A statement is written in one of two styles:
 * - `$1, $2, …` (PostgreSQL's own): passed as written, so `?` stays PostgreSQL's jsonb operator;
 * - `?` (portable, the same text runs on SQLite): each `?` becomes `$n` in order.
 * A statement without parameters is passed as written, whatever it holds. `?` inside quoted
 * strings, quoted identifiers and `--` comments is never a placeholder.
 */

/** How a statement reads when scanned for placeholders outside quotes and comments. */
interface Scanned {
  /** The text with every `?` numbered `$1, $2, …`. */
  numbered: string;
  questionMarks: number;
  /** Whether it holds a `$n` placeholder already. */
  dollarNumbered: boolean;
}

const scans = new Map<string, Scanned>();

function scan(sql: string): Scanned {
  const cached = scans.get(sql);
  if (cached !== undefined) return cached;
  let numbered = '';
  let questionMarks = 0;
  let dollarNumbered = false;
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote) {
      numbered += c;
      if (c === quote) quote = null;
      else if (quote === '\n' && c === '\n') quote = null;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '-' && sql[i + 1] === '-') quote = '\n';
    else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) dollarNumbered = true;
    if (c === '?' && !quote) numbered += `$${++questionMarks}`;
    else numbered += c;
  }
  const scanned = { numbered, questionMarks, dollarNumbered };
  if (scans.size > 1000) scans.clear();
  scans.set(sql, scanned);
  return scanned;
}

/** Translates `?` placeholders into `$1, $2, …`, leaving quoted text and comments alone. */
export function numberPlaceholders(sql: string): string {
  return scan(sql).numbered;
}

/**
 * The text to send to PostgreSQL for a statement run with `paramCount` parameters (see the rules
 * above). Throws `SqlPlaceholderError` when `?` placeholders and parameters do not pair up: the
 * usual cause is a jsonb `?` operator in a `?`-style statement, which only `$n` style can hold.
 */
export function postgresStatement(sql: string, paramCount: number): string {
  if (paramCount === 0) return sql;
  const scanned = scan(sql);
  if (scanned.dollarNumbered) return sql;
  if (scanned.questionMarks !== paramCount) throw new SqlPlaceholderError(sql, scanned.questionMarks, paramCount);
  return scanned.numbered;
}

/** A `?`-style statement whose `?` count differs from its parameter count. */
export class SqlPlaceholderError extends UsageError {
  constructor(sql: string, questionMarks: number, paramCount: number) {
    super(`this statement has ${questionMarks} "?" but ${paramCount} parameter${paramCount === 1 ? '' : 's'}: ${abbreviate(sql)}`, {
      code: 'SQL_PLACEHOLDERS',
      hint: 'on PostgreSQL, a "?" that is not a placeholder (the jsonb operators ?, ?| and ?&) needs $1, $2 placeholders: a statement written with them is passed as written',
    });
  }
}

function abbreviate(sql: string): string {
  const oneLine = sql.replace(/\s+/g, ' ').trim();
  return oneLine.length > 120 ? `${oneLine.slice(0, 117)}...` : oneLine;
}
