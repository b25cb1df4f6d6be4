/**
 * An ISO-8601 date or date-time as milliseconds since the epoch, or NaN. A date-time without a
 * zone (`2024-05-01T12:00`, `2024-05-01 12:00:00`) is read as UTC, like a bare date
 * (`2024-05-01`) already is: `Date.parse` would read it on the process's local clock, so the same
 * text would name a different instant on a machine in another time zone.
 */
export function parseIsoInstant(text: string): number {
  const match = ISO_DATE_TIME.exec(text.trim());
  if (!match) return NaN;
  const [, date, time, zone] = match;
  if (time === undefined) return Date.parse(date!);
  return Date.parse(`${date}T${time}${zone ?? 'Z'}`);
}

const ISO_DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;
