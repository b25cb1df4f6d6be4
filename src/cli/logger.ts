import { pino } from 'pino';
import { type Logger, redactSecrets } from '../index.js';

/**
 * Where the CLI's log records go. While a command prints a run's events itself (a progress bar and
 * its lines on a terminal, JSON lines otherwise), the log records that mirror one of those events
 * (the core tags them with `event`) are dropped, so that each event is printed once; on a terminal
 * the others are written as one readable line through the progress display, never as JSON across
 * the bar.
 */
export const logSink = {
  /** Set by the progress display while it prints the run's events. */
  printsEvents: false,
  /** On a terminal: how a line is written without tearing the progress bar (the display sets it while it draws one). */
  writeLine: (text: string): void => void process.stderr.write(`${text}\n`),
};

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/** Structured logs on stderr: pino JSON lines off a terminal; on a terminal, warnings and errors as one line each. */
export function createCliLogger(options: { verbose: boolean; interactive: boolean }): Logger {
  const level = options.verbose ? 'debug' : options.interactive ? 'warn' : 'info';
  const stream = {
    write(written: string): void {
      // Last line of defence: an error that embeds a connection string never writes its password.
      const line = redactSecrets(written);
      const record = JSON.parse(line) as { level: number; msg?: string; event?: string; err?: { message?: string } };
      if (logSink.printsEvents && record.event !== undefined) return;
      if (!options.interactive) process.stderr.write(line);
      else logSink.writeLine(readableLine(record));
    },
  };
  return pino({ level, base: undefined }, stream);
}

/** `warning: could not record the throttle decision: …` (the error's message when the text lacks it). */
function readableLine(record: { level: number; msg?: string; err?: { message?: string } }): string {
  const message = record.msg ?? '';
  const cause = record.err?.message && !message.includes(record.err.message) ? `: ${record.err.message}` : '';
  return `${LEVEL_NAMES[record.level] ?? 'log'}: ${message}${cause}`;
}
