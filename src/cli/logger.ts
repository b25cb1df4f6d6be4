import { pino } from 'pino';
import type { Logger } from '../core/logger.js';

/** Structured logs on stderr: quiet on a terminal (they would tear the progress bar), info otherwise. */
export function createCliLogger(options: { verbose: boolean; interactive: boolean }): Logger {
  const level = options.verbose ? 'debug' : options.interactive ? 'warn' : 'info';
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}
