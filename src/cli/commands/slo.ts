import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type AlertReading, type BackfillDefinition, NotFoundError, type OutboxRecord, type Store, UsageError } from '../../index.js';
import { grafanaDashboard, sloRulesYaml } from '../../observe.js';
import { type GlobalFlags, definedBackfills, NO_BACKFILLS_HINT } from '../context.js';
import { closeMonitor, sloMonitor, withContext } from './shared.js';

/** How long `slo status --evaluate` keeps delivering alert notifications (retries included) before it exits. */
const EVALUATE_FLUSH_MS = 30_000;

export function registerSloCommands(program: Command): void {
  const slo = program.command('slo').description('service level objectives: alert state, Prometheus rules, a Grafana dashboard');

  slo
    .command('rules')
    .description('write Prometheus recording and alerting rules for the configured SLOs (check them with `promtool check rules`)')
    .option('--backfill <name>', 'only this backfill (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (options: { backfill?: string[]; out?: string }, command: Command) => {
      const definitions = await withSlos(command, options.backfill);
      emit(sloRulesYaml(definitions), options.out);
    });

  slo
    .command('dashboard')
    .description(
      'write a Grafana dashboard (JSON) for Sluice: throughput, batch duration, errors, backlog, throttle, burn rates, error budget',
    )
    .option('--backfill <name>', "only this backfill's SLO panels (repeatable)", (v: string, all: string[] = []) => [...all, v])
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (options: { backfill?: string[]; out?: string }, command: Command) => {
      const definitions = await withSlos(command, options.backfill);
      emit(`${JSON.stringify(grafanaDashboard(definitions), null, 2)}\n`, options.out);
    });

  slo
    .command('status')
    .description(
      'SLO alerts of every backfill (pending, firing, resolved) and their notifications not delivered; --evaluate reads the batch history now first',
    )
    .option(
      '--evaluate',
      'evaluate the configured SLOs now (moving alerts) and deliver the webhooks of every alert change not delivered yet, before showing them',
    )
    .action(async (options: { evaluate?: boolean }, command: Command) => {
      await withContext(command, { needsConfig: options.evaluate === true }, async (ctx) => {
        let readings: AlertReading[] | undefined;
        let undelivered: number | null | undefined;
        if (options.evaluate) {
          const monitor = sloMonitor(ctx);
          readings = await monitor.evaluate();
          // This process may be the only evaluator: it delivers (with retries) before it exits, and leaves the rest in the outbox.
          undelivered = await closeMonitor(ctx, monitor, EVALUATE_FLUSH_MS);
        }
        const alerts = await ctx.sluice.store.listAlerts();
        const notifications = await undeliveredNotifications(ctx.sluice.store);
        if (ctx.json) {
          process.stdout.write(
            `${JSON.stringify({ alerts, notifications, ...(readings ? { readings, undeliveredNotifications: undelivered } : {}) }, null, 2)}\n`,
          );
          return 0;
        }
        const lines = readings
          ? readings.map((r) => `${r.backfill}  ${r.slo}/${r.tier}  ${r.state.padEnd(8)} ${r.severity.padEnd(6)} ${r.summary}`)
          : alerts.map(
              (a) => `${a.backfill}  ${a.slo}/${a.tier}  ${a.state.padEnd(8)} ${a.severity.padEnd(6)} since ${a.since}: ${a.summary}`,
            );
        for (const n of notifications) {
          const attempts = `${n.attempts} attempt${n.attempts === 1 ? '' : 's'}${n.lastError ? ` (last: ${n.lastError})` : ''}`;
          const what =
            n.state === 'failed'
              ? `given up after ${attempts}`
              : `not delivered yet after ${attempts}; the next evaluator (run, worker, serve, slo status --evaluate) retries it`;
          lines.push(
            `notification ${n.id}  ${n.backfill}  ${n.notification.slo}/${n.notification.tier} ${n.notification.state} → ${n.webhook}: ${what}`,
          );
        }
        process.stdout.write(
          lines.length === 0 ? 'no SLO alert has left inactive (pass --evaluate to read the batch history now)\n' : `${lines.join('\n')}\n`,
        );
        return 0;
      });
    });
}

/** How far back `slo status` shows notifications that were given up. */
const FAILED_SHOWN_MS = 7 * 86_400_000;

/** The outbox's notifications still pending, and those given up in the last week: what a receiver may not have got. */
async function undeliveredNotifications(store: Store): Promise<OutboxRecord[]> {
  const since = Date.now() - FAILED_SHOWN_MS;
  const failed = (await store.listNotifications({ state: 'failed' })).filter((n) => Date.parse(n.createdAt) >= since);
  return [...(await store.listNotifications({ state: 'pending' })), ...failed];
}

/** The definitions with SLOs (all, or those named), loaded without opening a store. */
async function withSlos(command: Command, names: string[] | undefined): Promise<BackfillDefinition<unknown>[]> {
  const all = await definedBackfills(command.optsWithGlobals<GlobalFlags>());
  for (const name of names ?? []) {
    const found = all.find((d) => d.name === name);
    if (!found)
      throw new NotFoundError(`unknown backfill "${name}"`, {
        hint: all.length > 0 ? `defined backfills: ${all.map((d) => d.name).join(', ')}` : NO_BACKFILLS_HINT,
      });
    if (!found.slo)
      throw new UsageError(`backfill "${name}" defines no SLOs`, { hint: 'add slo: { objectives: [...] } to its definition' });
  }
  const chosen = all.filter((d) => d.slo !== undefined && (names === undefined || names.includes(d.name)));
  if (chosen.length === 0) throw new UsageError('no backfill defines SLOs', { hint: 'add slo: { objectives: [...] } to a definition' });
  return chosen;
}

function emit(text: string, out: string | undefined): void {
  if (out === undefined) process.stdout.write(text);
  else writeFileSync(out, text);
}
