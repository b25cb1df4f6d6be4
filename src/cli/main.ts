import { Command, CommanderError } from 'commander';
import { isSluiceError, messageOf, packageVersion, redactSecrets } from '../index.js';
import { registerControlCommands } from './commands/control.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerQuarantineCommands } from './commands/quarantine.js';
import { registerOperateCommands } from './commands/operate.js';
import { registerReportCommand } from './commands/report.js';
import { registerRunCommands } from './commands/run.js';
import { registerServeCommand } from './commands/serve.js';
import { registerTokenCommands } from './commands/token.js';
import { registerSloCommands } from './commands/slo.js';
import { registerStatusCommands } from './commands/status.js';
import { registerStoreCommands } from './commands/store.js';
import { registerWorkerCommand } from './commands/worker.js';
import { cliTextOf } from './error-text.js';
import { ExitCode, exitCodeOfError } from './exit-codes.js';
import { joinNegativeValues } from './options.js';

const verbose = process.argv.includes('--verbose');

function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Resumable, exactly-once, production-safe backfills')
    .version(packageVersion() ?? 'unknown', '-V, --version', 'print the version of sluice')
    .option('--db <file>', 'the store (env SLUICE_DB; default ./.sluice/sluice.db)')
    .option('--config <file>', 'backfill definitions (default: sluice.config.ts/.mts/.js/.mjs in the working directory)')
    .option('--json', 'JSON output (JSON lines while a run executes)')
    .option('--verbose', 'debug logs, and stack traces on errors')
    .option('--actor <name>', 'who you are, for the transition log (default: $USER)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  registerRunCommands(program);
  registerStatusCommands(program);
  registerControlCommands(program);
  registerQuarantineCommands(program);
  registerDemoCommand(program);
  registerWorkerCommand(program);
  registerSloCommands(program);
  registerReportCommand(program);
  registerOperateCommands(program);
  registerServeCommand(program);
  registerTokenCommands(program);
  registerStoreCommands(program);
  for (const command of program.commands) command.exitOverride().configureOutput({ outputError: () => undefined });
  return program;
}

/** One line on stderr (plus a hint); the stack only with --verbose. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
    // No command given: commander printed the help on stderr.
    if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    process.stderr.write(`sluice: ${error.message.replace(/^error: /, '')}\n`);
    return ExitCode.usage;
  }
  if (isSluiceError(error)) {
    // The core names options as a library user passes them; the CLI shows its flags.
    const { message, hint } = cliTextOf(error);
    process.stderr.write(redactSecrets(`sluice: ${message}\n${hint ? `hint: ${hint}\n` : ''}`));
    if (verbose && error.stack) process.stderr.write(`${redactSecrets(error.stack)}\n`);
    return exitCodeOfError(error);
  }
  const message = messageOf(error);
  process.stderr.write(`sluice: unexpected error: ${redactSecrets(message)}${verbose ? '' : ' (run with --verbose for the stack)'}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${redactSecrets(error.stack)}\n`);
  return ExitCode.failed;
}

try {
  await buildProgram().parseAsync(joinNegativeValues(process.argv.slice(2)), { from: 'user' });
} catch (error) {
  process.exitCode = report(error);
}
