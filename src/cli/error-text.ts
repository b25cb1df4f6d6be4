import { errorTextIn, type FrontEndTerms, inTermsOf, type SluiceError } from '../index.js';

/**
 * The CLI's names for the options Sluice's messages name. The core speaks of options as a library
 * user passes them (`since`, `batchSize`) and quotes them in backticks; the CLI shows its flags.
 */
export const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  since: '--since',
  batchSize: '--batch-size',
  concurrency: '--concurrency',
  batchDelayMs: '--batch-delay',
  maxMemoryMb: '--max-memory',
  maxBatches: '--max-batches',
  maxItems: '--canary',
  gradual: '--gradual',
  profile: '--profile',
  dryRun: '--dry-run',
  newRun: '--new',
  reprocess: '--reprocess',
  params: '--param',
  follow: '--no-follow',
  orphanPollMs: '--poll',
  scope: '--scope',
};

/**
 * The store's options as the CLI spells them, where a store's message names one: the CLI opens
 * every store from `--db` (a SQLite file's `path`, a PostgreSQL `connectionString`).
 */
const FLAG_OF_STORE_OPTION: Readonly<Record<string, string>> = {
  path: '--db (or SLUICE_DB)',
  connectionString: '--db',
};

/**
 * The CLI command for each library call Sluice's messages suggest. The core and the stores name
 * the call a program makes, quoted in backticks (`retry('r_1')`, `listRuns()`); the CLI shows the
 * command that does the same (`sluice retry r_1`, `sluice list`).
 */
export const COMMAND_OF_CALL: Readonly<Record<string, (args: readonly string[]) => string>> = {
  retry: ([run]) => `sluice retry ${run}`,
  resume: ([run]) => `sluice resume ${run}`,
  status: ([run]) => (run === undefined ? 'sluice status' : `sluice status ${run}`),
  listRuns: () => 'sluice list',
  storeFileProblems: ([path, check]) => `sluice store check${check === 'full' ? ' --full' : ''} --db ${path}`,
};

/** Hints the CLI words itself, where the flag takes a form the option does not (`--param name=<value>`). */
const CLI_HINTS: Readonly<Record<string, (error: SluiceError) => string | undefined>> = {
  CONCURRENCY_KEY_MISSING: (error) => {
    const param = error.details?.param;
    return typeof param === 'string' ? `pass --param ${param}=<value>` : undefined;
  },
};

/** The CLI's terms: its flags for options, its commands for calls, and the hints it words itself. */
function cliTerms(flags: Readonly<Record<string, string>>): FrontEndTerms {
  return { options: flags, calls: COMMAND_OF_CALL, hints: CLI_HINTS };
}

/**
 * `text` with each backticked option name that the CLI has a flag for written as that flag, and
 * each backticked library call the CLI has a command for written as that command.
 */
export function inCliTerms(text: string, flags: Readonly<Record<string, string>> = FLAG_OF_OPTION): string {
  return inTermsOf(text, cliTerms(flags));
}

/** A Sluice error's message and hint as the CLI prints them: its flags, not the library's option names. */
export function cliTextOf(error: SluiceError): { message: string; hint: string | undefined } {
  // Only a store's own errors name its options: elsewhere `path` may be anything.
  const flags = error.code === 'STORE' ? { ...FLAG_OF_OPTION, ...FLAG_OF_STORE_OPTION } : FLAG_OF_OPTION;
  return errorTextIn(error, cliTerms(flags));
}
