import type { SluiceError } from './errors.js';

/**
 * A front end's own names for the library terms Sluice's messages quote. The core and the stores
 * word their messages and hints for a program: they quote, in backticks, the options it passes
 * (`since`, `newRun`) and the calls it makes (`retry('r_1')`, `listRuns()`). A front end with
 * names of its own (the CLI's flags and commands, the admin API's body fields and routes) rewrites
 * each quoted term it has a name for, and leaves the others as the library words them.
 */
export interface FrontEndTerms {
  /** The text shown in place of a quoted option, backticks included: the CLI's `--since`. */
  readonly options: Readonly<Record<string, string>>;
  /** What the front end does for a quoted call, from the call's arguments (`'r_1'` → r_1); shown quoted. */
  readonly calls: Readonly<Record<string, (args: readonly string[]) => string>>;
  /** Hints the front end words whole, by error code, where a term-by-term rewrite would not read (undefined: rewrite the core's). */
  readonly hints?: Readonly<Record<string, (error: SluiceError) => string | undefined>>;
}

/** The arguments of a quoted call, unquoted: `'r_1', 'full'` → r_1, full. */
function callArguments(text: string): string[] {
  if (text.trim() === '') return [];
  return text.split(/,\s*/).map((arg) => arg.trim().replace(/^(['"])(.*)\1$/, '$2'));
}

/** `text` with each backticked option and each backticked call that `terms` has a name for written in those terms. */
export function inTermsOf(text: string, terms: FrontEndTerms): string {
  return text
    .replace(/`([A-Za-z]+)`/g, (quoted, option: string) => terms.options[option] ?? quoted)
    .replace(/`([A-Za-z]+)\(([^`]*)\)`/g, (quoted, call: string, args: string) => {
      const made = terms.calls[call];
      return made ? `\`${made(callArguments(args))}\`` : quoted;
    });
}

/** A Sluice error's message and hint in a front end's terms (its own wording of the hint where it has one). */
export function errorTextIn(error: SluiceError, terms: FrontEndTerms): { message: string; hint: string | undefined } {
  const hint = terms.hints?.[error.code]?.(error) ?? error.hint;
  return { message: inTermsOf(error.message, terms), hint: hint === undefined ? undefined : inTermsOf(hint, terms) };
}
