import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** bin/sluice.js of this package, from both src/cli (tsx) and dist/cli. */
const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

export type SupervisorEvent =
  | { kind: 'started'; slot: number; pid: number }
  | { kind: 'exited'; slot: number; pid: number; code: number | null; signal: NodeJS.Signals | null; respawn: boolean; stderrTail: string };

export interface SupervisorOptions {
  /** How many `sluice worker` processes to keep running. */
  count: number;
  /** Arguments after `sluice` (e.g. `worker --db … --exit-when-idle`). */
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Replacements in all, before the supervisor gives up on a crash loop. */
  maxRespawns?: number;
  onEvent?(event: SupervisorEvent): void;
}

/**
 * Keeps `count` worker processes running until each has exited cleanly (exit 0: no run left).
 * A worker that dies (killed, crashed, lost its database for longer than it retries) is replaced
 * after a short, growing delay: nothing is lost, because everything it had not checkpointed is
 * redone by whoever claims its partitions. `stop()` sends SIGTERM (workers hand their partitions
 * back) and replaces no one.
 */
export class WorkerSupervisor {
  private readonly children = new Map<number, ChildProcess>();
  private respawns = 0;
  private stopping = false;
  private readonly finished: Promise<{ respawns: number; gaveUp: boolean }>;
  private resolveFinished!: (result: { respawns: number; gaveUp: boolean }) => void;
  private gaveUp = false;
  private running = 0;

  constructor(private readonly options: SupervisorOptions) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    for (let slot = 0; slot < options.count; slot++) this.spawn(slot);
  }

  /** Resolves when every slot has a worker that exited cleanly, or after stop(), or on giving up. */
  get done(): Promise<{ respawns: number; gaveUp: boolean }> {
    return this.finished;
  }

  pids(): number[] {
    return [...this.children.values()].map((c) => c.pid!).filter((pid) => pid !== undefined);
  }

  stop(): void {
    this.stopping = true;
    for (const child of this.children.values()) child.kill('SIGTERM');
  }

  private spawn(slot: number): void {
    const child = spawn(process.execPath, [SLUICE_BIN, ...this.options.args], {
      env: this.options.env ?? process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.running += 1;
    this.children.set(slot, child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    if (child.pid !== undefined) this.options.onEvent?.({ kind: 'started', slot, pid: child.pid });
    child.on('close', (code, signal) => {
      this.running -= 1;
      this.children.delete(slot);
      const clean = code === 0;
      const respawn = !clean && !this.stopping && this.respawns < (this.options.maxRespawns ?? 50);
      if (!clean && !this.stopping && !respawn) this.gaveUp = true;
      this.options.onEvent?.({
        kind: 'exited',
        slot,
        pid: child.pid ?? 0,
        code,
        signal,
        respawn,
        stderrTail: stderr.trim().split('\n').slice(-3).join('\n'),
      });
      if (respawn) {
        this.respawns += 1;
        this.running += 1; // the slot is spoken for while the replacement waits
        const delay = Math.min(5000, 200 * this.respawns);
        setTimeout(() => {
          this.running -= 1;
          if (this.stopping) return this.settle();
          this.spawn(slot);
        }, delay);
        return;
      }
      this.settle();
    });
  }

  private settle(): void {
    if (this.running === 0) this.resolveFinished({ respawns: this.respawns, gaveUp: this.gaveUp });
  }
}
