/** The logging surface the core needs; a pino logger satisfies it. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  /** A logger that adds `bindings` to every record (pino's `child`); without one, Sluice binds them itself. */
  child?(bindings: object): Logger;
}

/** A logger that drops everything (the library default: embedders pass their own). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/**
 * `logger` with `bindings` added to every record: the logger's own `child` when it has one (pino
 * keeps its serializers and formatting), else a wrapper that merges the fields, the record's own
 * fields winning. A silent logger stays itself: no allocation on the hot path of a quiet library.
 */
export function childLogger(logger: Logger, bindings: object): Logger {
  if (logger === silentLogger) return logger;
  if (typeof logger.child === 'function') return logger.child(bindings);
  return {
    debug: (fields, message) => logger.debug({ ...bindings, ...fields }, message),
    info: (fields, message) => logger.info({ ...bindings, ...fields }, message),
    warn: (fields, message) => logger.warn({ ...bindings, ...fields }, message),
    error: (fields, message) => logger.error({ ...bindings, ...fields }, message),
    child: (more) => childLogger(logger, { ...bindings, ...more }),
  };
}
