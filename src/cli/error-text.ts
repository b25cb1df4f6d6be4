import type { SluiceError } from '../index.js';

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

/** Hints the CLI words itself, where the flag takes a form the option does not (`--param name=<value>`). */
const CLI_HINTS: Readonly<Record<string, (error: SluiceError) => string | undefined>> = {
  CONCURRENCY_KEY_MISSING: (error) => {
    const param = error.details?.param;
    return typeof param === 'string' ? `pass --param ${param}=<value>` : undefined;
  },
};

/** `text` with each backticked option name that the CLI has a flag for written as that flag. */
export function inCliTerms(text: string): string {
  return text.replace(/`([A-Za-z]+)`/g, (quoted, option: string) => FLAG_OF_OPTION[option] ?? quoted);
}

/** A Sluice error's message and hint as the CLI prints them: its flags, not the library's option names. */
export function cliTextOf(error: SluiceError): { message: string; hint: string | undefined } {
  const hint = CLI_HINTS[error.code]?.(error) ?? error.hint;
  return { message: inCliTerms(error.message), hint: hint === undefined ? undefined : inCliTerms(hint) };
}
