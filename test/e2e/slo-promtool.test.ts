import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { defineBackfill, iterable } from '../../src/index.js';
import { errorBudget } from '../../src/core/slo/slo.js';
import { alertName, sloRules, sloRulesYaml } from '../../src/observe/slo-rules.js';
import { runCli } from '../helpers/cli.js';
import { prometheusSkip } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/temp.js';

const skip = prometheusSkip();
const source = iterable({ from: () => [] as Array<{ id: number }>, cursorOf: (i: { id: number }) => i.id });

/** Objectives covering every shape: default tiers, seed 003's single windows, seed 000's sustained threshold with `for`. */
const definitions = [
  defineBackfill({
    name: 'email-scores',
    source,
    key: (i) => i.id,
    process() {},
    slo: {
      objectives: [
        { name: 'batch-duration', sli: { kind: 'batch-duration', thresholdSeconds: 300 }, objective: 0.95 },
        { name: 'errors', sli: { kind: 'error-ratio' }, objective: 0.99 },
        {
          name: 'seed-000',
          sli: { kind: 'batch-duration', thresholdSeconds: 300 },
          objective: 0.95,
          tiers: [{ name: 'sustained', severity: 'page', burnRate: 1, longWindow: '15m', for: '30m' }],
        },
      ],
    },
  }),
  defineBackfill({
    name: 'magflow',
    source,
    key: (i) => i.id,
    process() {},
    slo: {
      objectives: [
        {
          name: 'latency',
          sli: { kind: 'batch-duration', thresholdSeconds: 0.3 },
          objective: 0.99,
          tiers: [
            { name: 'fast-burn', severity: 'page', burnRate: 14.4, longWindow: '5m' },
            { name: 'slow-burn', severity: 'ticket', burnRate: 3.6, longWindow: '1h' },
          ],
        },
      ],
    },
  }),
];

/** Counter series whose bad fraction is `bad` at a constant rate, for one objective. */
function series(backfill: string, kind: 'batch-duration' | 'error-ratio', threshold: number | undefined, bad: number, steps: number) {
  const total = 100;
  const values = (perStep: number) => `0+${perStep.toFixed(6)}x${steps}`;
  if (kind === 'batch-duration') {
    return [
      { series: `sluice_batch_duration_seconds_count{backfill="${backfill}"}`, values: values(total) },
      { series: `sluice_batch_duration_seconds_bucket{backfill="${backfill}",le="${threshold}"}`, values: values(total * (1 - bad)) },
    ];
  }
  return [
    { series: `sluice_items_total{backfill="${backfill}",outcome="processed"}`, values: values(total * (1 - bad)) },
    { series: `sluice_items_total{backfill="${backfill}",outcome="quarantined"}`, values: values(total * bad) },
  ];
}

describe('generated Prometheus rules under promtool', { skip }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('pass `promtool check rules`, as `sluice slo rules` writes them for the demo', async () => {
    // The demo's backfill is known where the demo has run.
    const db = join(dir, 'demo.db');
    const demo = await runCli(['demo', '--rows', '100', '--db', db, '--json'], { cwd: dir });
    assert.equal(demo.code, 0, demo.stderr);
    const result = await runCli(['slo', 'rules', '--db', db, '--out', join(dir, 'demo-rules.yml')], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'demo-rules.yml')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 20 rules found/);
  });

  it('make each tier fire on a burn above its rate and stay quiet below it (`promtool test rules`)', () => {
    writeFileSync(join(dir, 'rules.yml'), sloRulesYaml(definitions));
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);

    const generated = new Map(
      sloRules(definitions)
        .groups.flatMap((g) => g.rules)
        .flatMap((r) => ('alert' in r ? [[r.alert, r] as const] : [])),
    );
    // Tests are grouped by sampling interval (a file has one evaluation interval): fine steps for
    // the minute windows, coarse ones for the 3-day window, so that promtool does not evaluate
    // every rule 4,000 times.
    const files = new Map<number, object[]>();
    let firing = 0;
    for (const definition of definitions) {
      for (const slo of definition.slo!.objectives) {
        for (const tier of slo.tiers) {
          const name = alertName(slo, tier);
          const rule = generated.get(name)!;
          assert.ok(rule, `a rule named ${name}`);
          const shortest = (tier.shortWindowMs ?? tier.longWindowMs) / 60_000;
          const step = [15, 3, 1].find((m) => m * 10 <= shortest) ?? 1;
          const steps = Math.ceil((tier.longWindowMs + tier.forMs) / 60_000 / step) + 5;
          const tests = files.get(step) ?? [];
          files.set(step, tests);
          const threshold = slo.sli.kind === 'batch-duration' ? slo.sli.thresholdSeconds : undefined;
          const edge = tier.burnRate * errorBudget(slo);
          const cases: Array<[number, boolean]> = [[edge * 0.8, false]];
          if (edge * 1.25 < 1) cases.push([edge * 1.25, true]);
          for (const [bad, fires] of cases) {
            if (fires) firing += 1;
            tests.push({
              name: `${name} at ${(bad / errorBudget(slo)).toFixed(2)}× burn ${fires ? 'fires' : 'stays quiet'}`,
              interval: `${step}m`,
              input_series: series(definition.name, slo.sli.kind, threshold, bad, steps + 5),
              alert_rule_test: [
                {
                  eval_time: `${steps * step}m`,
                  alertname: name,
                  exp_alerts: fires ? [{ exp_labels: rule.labels, exp_annotations: rule.annotations }] : [],
                },
              ],
            });
          }
        }
      }
    }
    assert.equal(firing, 9, 'every tier is shown firing');
    assert.deepEqual(
      [...files.keys()].sort((a, b) => a - b),
      [1, 3, 15],
    );
    for (const [step, tests] of files) {
      const file = join(dir, `tests-${step}m.yml`);
      writeFileSync(
        file,
        stringify({ rule_files: ['rules.yml'], evaluation_interval: `${step}m`, tests }, { aliasDuplicateObjects: false }),
      );
      const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', cwd: dir });
      assert.equal(run.status, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /SUCCESS/);
    }
  });
});
