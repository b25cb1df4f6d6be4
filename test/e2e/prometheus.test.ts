import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { dashboardExpressions, grafanaDashboard } from '../../src/observe/grafana-dashboard.js';
import { runCli, startCli, waitForLine } from '../helpers/cli.js';
import { prometheusSkip } from '../helpers/prometheus.js';
import { tempDir, waitFor } from '../helpers/temp.js';

const SLUICE = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const skip = prometheusSkip();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

describe('a real Prometheus scraping Sluice', { skip }, () => {
  it("evaluates the generated rules and fires the SLO alert of a failing run through its HTTP API; the dashboard's queries parse", async () => {
    const { dir, cleanup } = await tempDir();
    const children: ChildProcess[] = [];
    try {
      // Half the items fail for good: the error ratio burns a 10 % budget 5× over, and the tier fires at 2×.
      writeFileSync(
        join(dir, 'sluice.config.ts'),
        `import { defineBackfill, iterable, PermanentError } from '${SLUICE}';
export default [defineBackfill<{ n: number }>({
  name: 'failing',
  source: iterable({ from: (c) => Array.from({ length: 100000 - Number(c ?? 0) }, (_, i) => ({ n: Number(c ?? 0) + i + 1 })), cursorOf: (i) => i.n, count: () => 100000 }),
  key: (i) => i.n,
  batchSize: 10,
  maxFailureRatio: 1,
  retry: { attempts: 1 },
  slo: { objectives: [{ name: 'errors', sli: { kind: 'error-ratio' }, objective: 0.9,
    tiers: [{ name: 'fast', severity: 'page', burnRate: 2, longWindow: '1m', shortWindow: '15s' }] }] },
  async process(batch) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (batch.some((i) => i.n % 20 < 10)) throw new PermanentError('broken half');
  },
})];
`,
      );
      const rules = await runCli(['slo', 'rules', '--out', join(dir, 'rules.yml')], { cwd: dir });
      assert.equal(rules.code, 0, rules.stderr);

      const run = startCli(['run', 'failing', '--metrics-port', '0', '--json', '--db', join(dir, 'store.db')], { cwd: dir });
      children.push(run);
      const metricsUrl = (JSON.parse(await waitForLine(run, /"event":"metrics"/)) as { url: string }).url;
      const target = new URL(metricsUrl).host;

      const port = await freePort();
      writeFileSync(
        join(dir, 'prometheus.yml'),
        `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: sluice
    static_configs: [{ targets: ['${target}'] }]
`,
      );
      const prometheus = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'tsdb')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(prometheus);
      let log = '';
      prometheus.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const api = `http://127.0.0.1:${port}/api/v1`;

      const alert = await waitFor(
        async () => {
          const response = await fetch(`${api}/alerts`).catch(() => undefined);
          if (!response?.ok) return undefined;
          const body = (await response.json()) as { data: { alerts: PromAlert[] } };
          return body.data.alerts.find((a) => a.labels.alertname === 'SluiceErrorsFast' && a.state === 'firing');
        },
        `Prometheus firing SluiceErrorsFast (prometheus log: ${log.slice(-500)})`,
        90_000,
        500,
      );
      assert.deepEqual(
        { ...alert.labels },
        { alertname: 'SluiceErrorsFast', backfill: 'failing', severity: 'page', slo: 'errors', tier: 'fast' },
      );

      // The recording rule agrees with what Sluice quarantines: half of the items.
      const ratio = (await fetch(`${api}/query?query=${encodeURIComponent('sluice:slo_bad_ratio:rate1m{backfill="failing"}')}`).then((r) =>
        r.json(),
      )) as { data: { result: Array<{ value: [number, string] }> } };
      const value = Number(ratio.data.result[0]!.value[1]);
      assert.ok(value > 0.3 && value < 0.7, `bad ratio near 0.5, got ${value}`);

      // Every query of the generated dashboard is valid PromQL to this Prometheus.
      const { loadConfig } = await import('../../src/cli/config.js');
      for (const expr of dashboardExpressions(grafanaDashboard(await loadConfig(join(dir, 'sluice.config.ts'))))) {
        const response = await fetch(`${api}/query?query=${encodeURIComponent(expr)}`);
        const body = (await response.json()) as { status: string; error?: string };
        assert.equal(body.status, 'success', `${expr}: ${body.error}`);
      }
    } finally {
      for (const child of children) child.kill('SIGKILL');
      await cleanup();
    }
  });
});
