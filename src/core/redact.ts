/**
 * Secrets out of store locations and messages. A PostgreSQL connection string can carry its
 * password in the userinfo (`postgres://user:pa@ss@host/db`, `@`, `:` and `%40` included), in the
 * query (`?password=…`, `&sslpassword=…`) or as a key=value pair (`host=… password='…'`); every
 * one of those is replaced with `***`, so that a location or an error that embeds it can be
 * printed, logged or answered.
 */

/** Query or key=value parameters whose value is a secret (or points at one, like `sslkey`). */
const SECRET_KEYS = 'password|passwd|pass|pwd|sslpassword|sslkey|sslcert|secret|token|api_?key|access_?token';
const MASK = '***';

/** Key=value pairs (`password=x`, `password = 'a b'`, `?password=x&`), anywhere in a text. */
const KEY_VALUE = new RegExp(
  `((?:^|[\\s?&;,"'({])(?:${SECRET_KEYS})\\s*=\\s*)('(?:[^'\\\\]|\\\\.)*'|"(?:[^"\\\\]|\\\\.)*"|[^\\s&;,"'}]+)`,
  'gi',
);

/** A URL with an authority, as it appears in a text: scheme://… up to whitespace or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/**
 * The connection string with every password replaced by `***`: the userinfo's password (which
 * may hold `@`, `:`, `/`, `?` or percent-encoding; the userinfo ends at the last `@` before the
 * query), secret query parameters, and key=value secrets. Over-redacts rather than leaks.
 */
export function redactConnectionString(connection: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*:\/\/)/i.exec(connection);
  if (!scheme) return connection.replace(KEY_VALUE, `$1${MASK}`);
  const rest = connection.slice(scheme[1]!.length);
  const query = rest.indexOf('?');
  const head = query < 0 ? rest : rest.slice(0, query);
  // A password holding `?` puts its `@` after the first `?`: then the last `@` of all ends it.
  let at = head.lastIndexOf('@');
  if (at < 0) at = rest.lastIndexOf('@');
  let userinfo = '';
  let tail = rest;
  if (at >= 0) {
    const raw = rest.slice(0, at);
    const colon = raw.indexOf(':');
    userinfo = `${colon < 0 ? raw : `${raw.slice(0, colon)}:${MASK}`}@`;
    tail = rest.slice(at + 1);
  }
  return `${scheme[1]}${userinfo}${tail.replace(KEY_VALUE, `$1${MASK}`)}`;
}

/** A text (an error message, a log line) with the secrets of any connection string in it replaced by `***`. */
export function redactSecrets(text: string): string {
  const urls: string[] = [];
  // URLs aside first (each redacted as a whole), so that key=value secrets are looked for only outside them.
  const rest = text.replace(URL_IN_TEXT, (found) => {
    // Punctuation that ends the sentence (`…/db: connect ECONNREFUSED`) stays outside the URL.
    const url = found.replace(/[:.,;)\]]+$/, '');
    urls.push(redactConnectionString(url));
    return `\u0000${urls.length - 1}\u0000${found.slice(url.length)}`;
  });
  return rest.replace(KEY_VALUE, `$1${MASK}`).replace(/\u0000(\d+)\u0000/g, (placeholder, i: string) => urls[Number(i)] ?? placeholder);
}
