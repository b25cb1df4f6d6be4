/**
 * Typed errors. Every error Sluice raises says what was wrong and what to do next, and carries a
 * stable `code` a program can branch on. What a front end makes of an error is its own business:
 * the CLI maps codes to exit codes and shows its flags where a message names an option
 * (src/cli/exit-codes.ts, src/cli/error-text.ts); the admin API maps codes to HTTP statuses.
 */

/**
 * Facts about an error for programs, beside its message. `options` names the options (of
 * `StartOptions`, a definition, a retune) that the message and hint mention, as a library user
 * passes them (`since`, `batchSize`): the text quotes each in backticks, so that a front end with
 * names of its own for them (the CLI's `--since`, `--batch-size`) can show those instead.
 */
export interface SluiceErrorDetails {
  readonly options?: readonly string[];
  readonly [fact: string]: unknown;
}

/** What every Sluice error may carry beside its message. */
export interface SluiceErrorOptions {
  hint?: string;
  details?: SluiceErrorDetails;
  cause?: unknown;
}

/** Marks Sluice's errors across copies of the package (a config may load the built one beside the source). */
const SLUICE_ERROR = Symbol.for('sluice.error');

/** Base class of every error Sluice raises on purpose. */
export class SluiceError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_INVALID`. */
  readonly code: string;
  /** What the user should do next, when the message alone does not say it. */
  readonly hint: string | undefined;
  /** Structured facts (the options the message names, …); undefined when there are none. */
  readonly details: SluiceErrorDetails | undefined;
  readonly [SLUICE_ERROR] = true;

  constructor(code: string, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** Bad input from the caller: an option, a parameter, a flag. Code `USAGE` unless a more precise one is given. */
export class UsageError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'USAGE', message, options);
  }
}

/** A definition or config file that cannot be used. Code `CONFIG_INVALID`. */
export class ConfigError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('CONFIG_INVALID', message, options);
  }
}

/** Something named (a run, a backfill) does not exist. Code `NOT_FOUND`. */
export class NotFoundError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('NOT_FOUND', message, options);
  }
}

/** The store cannot be opened or used (corrupt file, newer schema, I/O). Code `STORE`. */
export class StoreError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('STORE', message, options);
  }
}

/** A source cannot be read (missing table or column, non-unique key, unreadable file). Code `SOURCE`. */
export class SourceError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('SOURCE', message, options);
  }
}

/** A run is not in a state that allows the requested action. Code `INVALID_TRANSITION`. */
export class InvalidTransitionError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('INVALID_TRANSITION', message, options);
  }
}

/**
 * A concurrency key's run limit is reached: the run stays pending, queued behind `behind`, and
 * starts when a slot frees (a worker picks it up, or the caller tries again).
 */
export class RunQueuedError extends SluiceError {
  constructor(
    readonly runId: string,
    readonly behind: string,
    reason: string,
  ) {
    super('RUN_QUEUED', `run ${runId} is ${reason}`, {
      hint: `it starts when run ${behind} ends; \`status('${runId}')\` shows the queue`,
    });
  }
}

/**
 * The backfill's latest run with the same parameters succeeded, and the start did not ask for a new
 * run: starting it again would process every item again (a transactional backfill rewrites every
 * row). `run` is that run; pass `newRun` to run the backfill again on purpose.
 */
export class RunAlreadySucceededError extends SluiceError {
  constructor(readonly run: { id: string; backfill: string; finishedAt: string | null }) {
    super(
      'RUN_ALREADY_SUCCEEDED',
      `backfill ${run.backfill} already succeeded with these parameters (run ${run.id}${run.finishedAt ? `, finished ${run.finishedAt}` : ''}); nothing was started`,
      {
        hint: 'pass `newRun` to start a new run that processes every item again (items the ledger holds are skipped unless `reprocess` is all)',
        details: { options: ['newRun', 'reprocess'] },
      },
    );
  }
}

/**
 * The batch's signal fired (a pause, a cancel, `run.abortInFlight()`) and the batch did not finish:
 * it was rolled back or left unrecorded, nothing of it is quarantined, and a resume redoes it.
 */
export class BatchAbortedError extends SluiceError {
  constructor(runId: string, partition: number, why = 'the host aborted the batches in flight') {
    super(
      'BATCH_ABORTED',
      `the batch in flight on partition ${partition} of run ${runId} was aborted (${why}); it was not committed and a resume redoes it`,
    );
  }
}

/**
 * The worker no longer holds the partition's lease: its fencing token is stale.
 * The batch transaction that saw this was rolled back; the worker must stop working on the partition.
 */
export class LeaseLostError extends SluiceError {
  constructor(runId: string, partition: number, fence: number) {
    super('LEASE_LOST', `lease on partition ${partition} of run ${runId} was lost (fence ${fence} is stale); the batch was rolled back`);
  }
}

/**
 * The partition's checkpoint is no longer where this batch started: an earlier attempt of the same
 * batch committed although its connection failed before saying so. The batch transaction was rolled
 * back; the worker carries on from the stored checkpoint.
 */
export class CheckpointMovedError extends SluiceError {
  constructor(runId: string, partition: number) {
    super(
      'CHECKPOINT_MOVED',
      `the checkpoint of partition ${partition} of run ${runId} moved since the batch was read; the batch was rolled back`,
    );
  }
}

/**
 * Thrown by a user's `process` to say that retrying cannot help (bad data, a constraint violation):
 * Sluice skips the remaining retries and isolates the failing items into quarantine at once.
 */
export class PermanentError extends Error {
  /** Error class recorded in quarantine, e.g. `PARSE_ERROR`. */
  readonly errorClass: string;
  constructor(message: string, errorClass = 'PERMANENT', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
    this.errorClass = errorClass;
  }
}

/** The class under which an error is counted and quarantined: a code when there is one, else its name. */
export function errorClassOf(error: unknown): string {
  if (error && typeof error === 'object') {
    // Duck-typed: a config loaded from the built package and an engine from source are two copies.
    const errorClass = (error as { errorClass?: unknown }).errorClass;
    if (typeof errorClass === 'string' && errorClass.length > 0) return errorClass;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0 && code.length <= 64) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return 'Error';
}

/**
 * Errors of the store's connection that a retry can outlive: a dropped or refused connection, a
 * server shutting down or restarting (PostgreSQL classes 08, 53, 57P), a server that did not
 * answer in time (a connect, query or statement timeout: 57014), SQLite being busy.
 */
export function isTransientStoreError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      /^(08|53|57P|57014|40001|40P01|ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|SQLITE_BUSY|SQLITE_LOCKED)/.test(code)
    )
      return true;
    const message = (e as { message?: unknown }).message;
    if (
      typeof message === 'string' &&
      /Connection terminated|connection is closed|Client has encountered a connection error|^Query read timeout$|^timeout expired$|timeout exceeded when trying to connect/i.test(
        message,
      )
    )
      return true;
  }
  return false;
}

/**
 * The store could not write at all (a full disk, an I/O error): nothing about the work is wrong,
 * and the same write fails for every partition until an operator frees space.
 */
export function isStoreWriteFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(SQLITE_FULL|SQLITE_IOERR|53100$|ENOSPC$)/.test(code)) return true;
  }
  return false;
}

/**
 * A one-line message for any thrown value. An Error (or an error-like object from another realm)
 * gives its message and a thrown string itself; anything else says what it was, not `[object Object]`.
 */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  const message = error !== null && typeof error === 'object' ? (error as { message?: unknown }).message : undefined;
  if (typeof message === 'string' && message.length > 0) return message;
  return `a non-Error value was thrown: ${describeValue(error)}`;
}

const DESCRIBED_MAX = 200;

/** A bounded, never-throwing JSON-ish rendering of any value (cycles, bigints, functions, symbols). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `a function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol' || typeof value === 'bigint') return String(value);
  let text: string;
  try {
    const seen = new WeakSet<object>();
    text =
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return `${v}n`;
        if (typeof v === 'function' || typeof v === 'symbol')
          return String(typeof v === 'function' ? `[function ${v.name || 'anonymous'}]` : v);
        if (v !== null && typeof v === 'object') {
          if (seen.has(v)) return '[circular]';
          seen.add(v);
        }
        return v;
      }) ?? String(value);
  } catch {
    // A getter or toJSON that throws: the type is all that can be said safely.
    text = Object.prototype.toString.call(value);
  }
  return text.length > DESCRIBED_MAX ? `${text.slice(0, DESCRIBED_MAX)}…` : text;
}

/**
 * True for errors Sluice raised on purpose. Recognised by a global symbol rather than `instanceof`:
 * a user's config may load another copy of Sluice (the built package beside the source).
 */
export function isSluiceError(error: unknown): error is SluiceError {
  if (error instanceof SluiceError) return true;
  return (
    error instanceof Error &&
    (error as unknown as Record<symbol, unknown>)[SLUICE_ERROR] === true &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}
