import type { FrontEndTerms } from '../../core/error-terms.js';

/**
 * The core's usage errors are worded for the command line ("--since must be a duration…"); an
 * API client (the dashboard) sends `since`, not `--since`. A 400's message names the option as the
 * API does: each `--kebab-case` flag becomes its camelCase body field.
 */
export function apiWording(message: string): string {
  return message.replace(
    /(^|[\s("'`])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g,
    (_all, before: string, flag: string) => before + flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
  );
}

/**
 * The admin API's terms for what Sluice's messages and hints quote (src/core/error-terms.ts): the
 * route that does what a library call does, and the body field of `POST /api/v1/runs` for an option
 * the API names otherwise; `base` is where the API is mounted (empty, or a service's prefix). A
 * call or option with no counterpart in the API (`storeFileProblems`, a store's `path`) keeps the
 * library's wording.
 */
export function apiTerms(base: string): FrontEndTerms {
  const runs = `${base}/api/v1/runs`;
  return {
    options: { newRun: '`"new": true`', reprocess: '`"mode": "reprocess-all"`' },
    calls: {
      // The API's retry and resume hand the run to the workers, where the library's execute it in the caller's process.
      retry: ([run]) => `POST ${runs}/${run}/retry`,
      resume: ([run]) => `POST ${runs}/${run}/resume`,
      status: ([run]) => (run === undefined ? `GET ${runs}` : `GET ${runs}/${run}`),
      listRuns: () => `GET ${runs}`,
    },
    hints: {
      RUN_ALREADY_SUCCEEDED: () =>
        `send \`"new": true\` with \`POST ${runs}\` to start a new run that processes every item again (items the ledger holds are skipped unless the body has \`"mode": "reprocess-all"\`)`,
    },
  };
}
