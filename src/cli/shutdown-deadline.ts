import { ExitCode } from './exit-codes.js';

/**
 * How long `serve` and `worker` may take to stop after SIGTERM or SIGINT: enough to finish a batch
 * in flight and hand the partitions back on a database that answers, and short enough that a
 * process manager's own grace period (Kubernetes: 30 s, systemd: 90 s) never has to kill it.
 */
export const SHUTDOWN_DEADLINE_MS = 8_000;

/**
 * Arms the shutdown's deadline, once: if the process is still stopping after `ms` (its store hangs,
 * so neither the batches in flight nor the hand-back can finish), it says so on stderr and exits
 * with code 1. Nothing is lost: a batch that did not commit is redone, and the partitions this
 * process held are taken over by other workers when their leases expire (the fence keeps this
 * process from committing anything after that).
 */
export function armShutdownDeadline(what: string, ms = SHUTDOWN_DEADLINE_MS): void {
  if (armed) return;
  armed = true;
  setTimeout(() => {
    process.stderr.write(
      `${what}: could not stop cleanly within ${Math.round(ms / 1000)} s (the store does not answer); exiting now. Batches not committed are redone; the partitions held here are taken over when their leases expire\n`,
    );
    process.exit(ExitCode.failed);
  }, ms).unref();
}

let armed = false;
