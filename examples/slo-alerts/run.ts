// Seed 003 end to end: `npx tsx examples/slo-alerts/run.ts [--db postgres://…] [--out DIR]`.
// Writes the Prometheus rules and Grafana dashboard Sluice generates for the backfill's SLOs
// (checked with promtool when it is installed), runs the backfill healthy and then degraded
// (slow batches, failing items), and shows the in-process evaluator's alerts after each.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SloMonitor, silentLogger, systemClock } from 'sluice';
import { grafanaDashboard, sloRulesYaml } from 'sluice/observe';
import { flags, openExample, report } from '../shared/example.js';
import { type Degradation, sloAlertsBackfill } from './backfill.js';

const args = flags({ out: { type: 'string' } }, 'run.ts [--db FILE|postgres://…] [--out .sluice/slo-alerts]');
const out = resolve((args.out as string | undefined) ?? '.sluice/slo-alerts');
const degradation: Degradation = { batchDelayMs: 0, failPercent: 0 };
const definition = sloAlertsBackfill(200, degradation);
const example = await openExample(args.db as string | undefined, '.sluice/slo-alerts.db', [definition]);
try {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'rules.yml'), sloRulesYaml([definition]));
  writeFileSync(join(out, 'dashboard.json'), `${JSON.stringify(grafanaDashboard([definition]), null, 2)}\n`);
  const promtool = spawnSync('promtool', ['check', 'rules', join(out, 'rules.yml')], { encoding: 'utf8' });
  report('generated', {
    rules: join(out, 'rules.yml'),
    dashboard: join(out, 'dashboard.json'),
    promtool: promtool.error ? 'not installed' : promtool.status === 0 ? 'passed' : `failed: ${promtool.stdout}${promtool.stderr}`,
  });

  const monitor = new SloMonitor({ sluice: example.sluice, clock: systemClock, logger: silentLogger });
  const phase = async (name: string, next: Degradation) => {
    Object.assign(degradation, next);
    // Each phase delivers the items again (reprocess all): the same backfill, before and after the dependency degraded.
    const outcome = await (await example.sluice.start('slo-alerts', { newRun: true, reprocess: 'all' })).done;
    const readings = await monitor.evaluate();
    report('phase', {
      phase: name,
      state: outcome.state,
      counts: outcome.counts,
      alerts: readings.map((r) => ({
        alert: `${r.slo}/${r.tier}`,
        severity: r.severity,
        state: r.state,
        burn: Math.round(r.burnLong * 10) / 10,
      })),
    });
  };
  await phase('healthy', { batchDelayMs: 0, failPercent: 0 });
  await phase('degraded: batches over 300 ms, 40 % of items failing', { batchDelayMs: 350, failPercent: 40 });
} finally {
  await example.close();
}
