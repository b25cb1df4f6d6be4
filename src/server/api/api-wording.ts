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
