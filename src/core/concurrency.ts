import type { BackfillDefinition } from './definition.js';
import { UsageError } from './errors.js';
import type { ConcurrencyLimits, RunLimits, RunParams, StartResult } from './run.js';

/**
 * Concurrency keys (seed 004: at most 1 running run per installation, 5 partitions per org, 10 in
 * all): which values a run holds, and the limits a start or a claim must respect. The stores
 * enforce the limits atomically; this module only derives them and words the refusals.
 */

/** A concurrency key value must be short plain text: it is compared, indexed and shown in status. */
const KEY_VALUE = /^[^\u0000-\u001f]{1,200}$/;

/**
 * The run's value of every concurrency key the backfill declares, read from the run's parameters
 * (`params: { installationId: 42 }`). A declared key without a value is refused: a run that escaped its
 * limit would defeat the limit's purpose.
 */
export function keysOf(definition: BackfillDefinition<unknown>, params: RunParams): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const name of Object.keys(definition.concurrencyKeys)) {
    const raw = params.extra?.[name];
    if (raw === undefined || raw === null || raw === '') {
      throw new UsageError(`backfill "${definition.name}" limits concurrency per ${name}, so every run needs one`, {
        code: 'CONCURRENCY_KEY_MISSING',
        hint: `pass \`params\`: { ${name}: <value> }`,
        details: { options: ['params'], param: name },
      });
    }
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      throw new UsageError(
        `parameter ${name} is a concurrency key: it must be a string or a number, got ${Array.isArray(raw) ? 'an array' : typeof raw}`,
      );
    }
    const value = String(raw);
    if (!KEY_VALUE.test(value))
      throw new UsageError(`parameter ${name} must be 1-200 printable characters, got ${JSON.stringify(value.slice(0, 40))}`);
    keys[name] = value;
  }
  return keys;
}

/** The limits a new run of the definition records (undefined when it declares none). */
export function runLimitsOf(definition: BackfillDefinition<unknown>): RunLimits | undefined {
  const keys = Object.keys(definition.concurrencyKeys).length > 0 ? { keys: { ...definition.concurrencyKeys } } : {};
  const backfill = definition.maxRunningPartitions !== undefined ? { backfillPartitions: definition.maxRunningPartitions } : {};
  return Object.keys(keys).length + Object.keys(backfill).length > 0 ? { ...keys, ...backfill } : undefined;
}

/** The limits on a run: those it recorded, applied to its key values. */
export function limitsFor(run: { keys: Record<string, string>; options: { limits?: RunLimits } }): ConcurrencyLimits {
  const limits = run.options.limits;
  return {
    keys: Object.entries(limits?.keys ?? {})
      .filter(([name]) => run.keys[name] !== undefined)
      .map(([name, limit]) => ({ name, value: run.keys[name]!, ...limit })),
    ...(limits?.backfillPartitions !== undefined ? { backfillPartitions: limits.backfillPartitions } : {}),
  };
}

/** True when the limits restrict anything (so the unlimited, cheaper claim can be used otherwise). */
export function hasLimits(limits: ConcurrencyLimits): boolean {
  return limits.backfillPartitions !== undefined || limits.keys.some((k) => k.runs !== undefined || k.partitions !== undefined);
}

export function queuedBehind(key: { name: string; value: string; runs?: number }, behind: string, running: number): StartResult {
  return {
    kind: 'queued',
    behind,
    reason: `queued behind run ${behind}: ${key.name}=${key.value} has ${running} running run${running === 1 ? '' : 's'} (at most ${key.runs})`,
  };
}

export function partitionLimitReason(what: string, running: number, limit: number): string {
  return `${what} has ${running} running partition${running === 1 ? '' : 's'} (at most ${limit})`;
}
