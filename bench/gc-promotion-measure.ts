/**
 * What the young generation promotes to the old space during a no-op transactional run over a
 * SQLite table of `rows` rows: the run in a child process under `--trace-gc-nvp`
 * (bench/gc-promotion-child.ts), the promoted bytes of its scavenges summed. A count of bytes, not
 * a time, so it barely moves with the machine's load. Used by bench/gc-promotion.ts and by the
 * test that keeps batches' rows from outliving their batch.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedSqliteItems } from './items-table.js';

export interface Promotion {
  /** Scavenges during the run. */
  scavenges: number;
  /** Bytes they promoted to the old space. */
  promotedBytes: number;
  /** Their pauses, summed (ms). */
  pauseMs: number;
}

/**
 * The guard on narrow rows, in MB: 5 MB and 5 MB per 1,000,000 rows. A run promotes a few MB
 * whatever its length (startup, compiled code), 1 to 5 MB at 200,000 rows; the regression it keeps
 * out promoted 84 MB on 1,000,000.
 */
export function promotionGuardMb(rows: number): number {
  return 5 + (5 * rows) / 1_000_000;
}

const CHILD = fileURLToPath(new URL('./gc-promotion-child.ts', import.meta.url));

/** Seeds a table of `rows` rows (`bodyBytes` of text each, 0: narrow) in a scratch directory and measures a run over it. */
export function measurePromotion(rows: number, bodyBytes = 0): Promotion {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-gc-'));
  try {
    const path = join(dir, 'items.db');
    seedSqliteItems(path, rows, bodyBytes);
    const out = execFileSync(process.execPath, ['--trace-gc-nvp', '--import', 'tsx', CHILD, path, String(rows)], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    const start = out.indexOf('RUN-START');
    const end = out.indexOf('RUN-END');
    if (start < 0 || end < 0) throw new Error(`the run's child printed no markers:\n${out.slice(-2000)}`);
    const scavenges = out
      .slice(start, end)
      .split('\n')
      .flatMap((line) => scavengeOf(line) ?? []);
    return {
      scavenges: scavenges.length,
      promotedBytes: scavenges.reduce((sum, s) => sum + s.promoted, 0),
      pauseMs: scavenges.reduce((sum, s) => sum + s.pause, 0),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One scavenge's promoted bytes and pause from a `--trace-gc-nvp` line, or undefined for any other
 * line. Node 20 prints `name=value` pairs (` gc=s … promoted=…`); later V8s print `GC: {…}` JSON.
 */
function scavengeOf(line: string): { promoted: number; pause: number } | undefined {
  const json = line.indexOf('GC: {');
  if (json >= 0) {
    try {
      const fields = JSON.parse(line.slice(json + 4)) as { gc?: string; promoted?: number; pause?: number };
      return fields.gc === 's' ? { promoted: fields.promoted ?? 0, pause: fields.pause ?? 0 } : undefined;
    } catch {
      return undefined;
    }
  }
  if (!line.includes(' gc=s ')) return undefined;
  const field = (name: string) => Number(new RegExp(` ${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
  return { promoted: field('promoted'), pause: field('pause') };
}
