import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defineBackfill, iterable, PermanentError } from '../../src/index.js';
import { call, type Harness, harness, stores } from '../helpers/api.js';
import { chromiumSkip, launchChromium, until } from '../helpers/chromium.js';

/** Kept by CI as the test run's artifacts (gitignored). */
const SCREENSHOTS = new URL('../../test-artifacts/screenshots/', import.meta.url).pathname;
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const WIDTHS = [360, 390, 768, 1440];
/** The names of every control that writes; none may be enabled for a read token. */
const WRITE_CONTROL = /^(Pause|Resume|Retry failed…|Cancel…|Retune…|Replay.*|Preview run…|Start this run|Dry run.*)$/;

async function signIn(context: BrowserContext, url: string, token: string): Promise<Page> {
  const page = await context.newPage();
  const missing: string[] = [];
  page.on('response', (response) => {
    if (response.status() === 404) missing.push(response.url());
  });
  (page as Page & { missing?: string[] }).missing = missing;
  await page.goto(`${url}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByLabel('API token').press('Enter');
  await page.getByRole('heading', { name: 'Runs' }).waitFor({ timeout: 30_000 });
  return page;
}

/** Starts the run the preview shows and returns the id its confirmation names. */
async function startPreviewed(page: Page, waitingFor: string): Promise<string> {
  await page.getByRole('button', { name: 'Start this run' }).click();
  const flash = await until(
    page,
    () => page.locator('#flash').innerText(),
    (t) => /created/.test(t),
    waitingFor,
  );
  return /Run (\S+) created/.exec(flash)![1]!;
}

async function enabledWriteControls(page: Page): Promise<string[]> {
  const names = await page
    .locator('button:not([disabled])')
    .evaluateAll((buttons) =>
      buttons
        .filter((b) => (b as unknown as { offsetParent: unknown }).offsetParent !== null || b.closest('dialog')?.hasAttribute('open'))
        .map((b) => b.getAttribute('aria-label') ?? b.textContent!.trim()),
    );
  return names.filter((name) => WRITE_CONTROL.test(name));
}

async function noSeriousAxeViolations(page: Page, where: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const result = await (
      globalThis as unknown as {
        axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: unknown }> }> }> };
      }
    ).axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => n.target) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${where}: axe found serious or critical violations`);
}

/** Items 1..40 of which 7 and 21 fail while `downstream.broken` (the fix an operator waits for before replaying). */
const downstream = { broken: true };
const mended = defineBackfill({
  name: 'mended',
  source: iterable({
    from: (c: unknown) => Array.from({ length: Math.max(0, 40 - Number(c ?? 0)) }, (_, i) => ({ id: Number(c ?? 0) + i + 1 })),
    cursorOf: (i: { id: number }) => i.id,
    count: () => 40,
  }),
  key: (i: { id: number }) => i.id,
  batchSize: 1,
  maxFailureRatio: 1,
  retry: { attempts: 1 },
  async process(batch) {
    const bad = batch.find((i) => downstream.broken && (i.id === 7 || i.id === 21));
    if (bad) throw new PermanentError(`item ${bad.id}: downstream refused it`);
  },
});

describe('the dashboard as an on-call operator uses it (Chromium)', { skip: chromiumSkip() }, () => {
  let h: Harness;
  let browser: Browser;
  let writer: BrowserContext;
  let reader: BrowserContext;
  let page: Page;
  let liveRun: string;
  let doneRun: string;
  let mendedRun: string;

  /** Waits for a run the server's worker executes (one at a time) to succeed. */
  async function finished(runId: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (
      ((await call(h, 'GET', `/api/v1/runs/${runId}`, { token: h.tokens.read })).json.run as { state: string }).state !== 'succeeded'
    ) {
      if (Date.now() > deadline) throw new Error(`run ${runId} did not finish`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    h = await harness(stores[0]![1], { extraBackfills: [mended] });
    browser = await launchChromium();
    writer = await browser.newContext({
      viewport: { width: 1440, height: 900 },
      timezoneId: 'Europe/Berlin',
      acceptDownloads: true,
      // axe-core is injected as a script of the test's own: the page's CSP (rightly) refuses inline scripts.
      bypassCSP: true,
    });
    reader = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    // A finished run with quarantined items (every 97th item fails for good).
    const quick = await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'quick', params: { tenant: 'q' } } });
    doneRun = (quick.json.run as { id: string }).id;
    await finished(doneRun);
    // And one whose quarantined items succeed once downstream is fixed.
    mendedRun = (
      (await call(h, 'POST', '/api/v1/runs', { token: h.tokens.write, body: { backfill: 'mended' } })).json.run as { id: string }
    ).id;
    await finished(mendedRun);
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('starts a run from a preview of its plan, with a reason, and shows who is signed in', async () => {
    page = await signIn(writer, h.url, h.tokens.write);
    assert.match(await page.locator('#whoami').innerText(), /writer\s+write/);
    await page.getByText('Start a run').click();
    await page.locator('#start-form select[name=backfill]').selectOption('slow');
    await page.getByLabel('Owner').fill('on-call');
    await page.locator('#start-form input[name=params]').fill('tenant=ui');
    await page.getByLabel('Reason (required)').fill('reindex after incident 42');
    // A bad option is named as the form names it, not as the command line's flag.
    await page.getByLabel('Since (7d, 12h or an instant)').fill('soonish');
    await page.getByRole('button', { name: 'Preview run…' }).click();
    const refused = await until(
      page,
      () => page.locator('#flash').innerText(),
      (t) => t !== '',
      'the refusal',
    );
    assert.match(refused, /`?since`? must be a duration/);
    assert.doesNotMatch(refused, /--since/);
    assert.equal(await page.locator('#flash').getAttribute('class'), 'error');
    await page.getByLabel('Since (7d, 12h or an instant)').fill('');
    await page.getByRole('button', { name: 'Preview run…' }).click();
    await page.locator('#plan').waitFor();
    assert.equal(await page.locator('#plan-items').innerText(), '100,000', 'the preview shows the planned items');
    const before = (await call(h, 'GET', '/api/v1/runs?backfill=slow', { token: h.tokens.read })).json.runs as unknown[];
    assert.equal(before.length, 0, 'a preview records nothing');
    liveRun = await startPreviewed(page, 'the run to be created');
    const status = (await call(h, 'GET', `/api/v1/runs/${liveRun}`, { token: h.tokens.read })).json as {
      transitions: Array<{ reason: string }>;
    };
    assert.equal(status.transitions[0]!.reason, 'reindex after incident 42', 'the reason is recorded with the run');
    await page.locator(`tr[data-run="${liveRun}"]`).waitFor();
  });

  it('starts a backfill that succeeded again only with "New run" ticked, and says so in the form\'s terms', async () => {
    await page.goto(`${h.url}/#/`);
    const start = page.locator('details#start');
    await start.waitFor({ state: 'attached' });
    if ((await start.getAttribute('open')) === null) await page.getByText('Start a run').click();
    await page.locator('#start-form select[name=backfill]').selectOption('quick');
    await page.locator('#start-form input[name=params]').fill('tenant=q');
    await page.getByLabel('Reason (required)').fill('again after a fix');
    await page.getByRole('button', { name: 'Preview run…' }).click();
    await page.locator('#plan').waitFor();
    assert.match(await page.locator('#plan-new').innerText(), /^no/);
    await page.getByRole('button', { name: 'Start this run' }).click();
    const refused = await until(
      page,
      () => page.locator('#flash').innerText(),
      (t) => /succeeded/.test(t),
      'the refusal of a second run',
    );
    assert.match(refused, /tick "New run"/);
    assert.doesNotMatch(refused, /"new": true|POST \/api/, 'the hint names the form, not the API');
    assert.equal(await page.locator('#flash').getAttribute('class'), 'error');

    await page.getByLabel(/^New run/).check();
    await page.getByRole('button', { name: 'Preview run…' }).click();
    await until(
      page,
      () => page.locator('#plan-new').innerText(),
      (t) => /^yes/.test(t),
      'the preview to say a new run',
    );
    const again = await startPreviewed(page, 'the new run to be created');
    assert.notEqual(again, doneRun, 'another run, beside the one that succeeded');
    await page.getByLabel(/^New run/).uncheck();
    // It has nothing to show here: out of the way of the tests after it.
    await call(h, 'POST', `/api/v1/runs/${again}/cancel`, { token: h.tokens.write, body: { reason: 'test done' } });
  });

  it('retunes a live run showing the current values and what the profile changes, before applying', async () => {
    await page.goto(`${h.url}/#/runs/${liveRun}`);
    const badge = page.locator('#run-state');
    await until(
      page,
      () => badge.innerText(),
      (s) => s === 'running',
      'the run to be running',
    );
    assert.match(await page.locator('#retune-current').innerText(), /batch size 20, concurrency 1, delay between batches 0 ms/);
    await page.locator('#retune-form select[name=profile]').selectOption('moderate');
    const changes = await page.locator('#retune-changes').innerText();
    assert.match(changes, /batch size: 20 → 500/);
    assert.match(changes, /concurrency: 1 → 2/);
    assert.match(changes, /delay between batches \(ms\): 0 → 200/);
    await page.getByRole('button', { name: 'Retune…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /concurrency: 1 → 2/);
    await page.getByLabel('Reason (recorded with the run)').fill('too slow');
    await page.getByRole('button', { name: 'Apply' }).click();
    await until(
      page,
      () => page.locator('#retune-current').innerText(),
      (t) => /profile moderate, batch size 500, concurrency 2, delay between batches 200 ms/.test(t),
      'the new values',
    );
    assert.match(await page.locator('#flash').innerText(), /Retuned: .*concurrency 1 → 2/);
    await until(
      page,
      () => page.locator('#chart-rate canvas').count(),
      (n) => n > 0,
      'the throughput chart',
    );
    assert.match(await page.locator('#chart-rate').innerText(), /processed\/s[\s\S]*skipped\/s/, 'skipped items are a series of their own');
    assert.match(await page.locator('#rates').innerText(), /now \(last 30 s\) · .* average since start/);
    assert.match(await page.locator('#detail').innerText(), /created by token:writer at .*(GMT|CE[S]?T|UTC)/, 'times carry their zone');
  });

  it('replays one quarantined item from the quarantine view, after confirming, and shows a failed replay as an error', async () => {
    await page.goto(`${h.url}/#/runs/${doneRun}/quarantine`);
    const first = page.getByRole('button', { name: /^Replay item \d+$/ }).first();
    await first.waitFor({ timeout: 30_000 });
    const table = page.getByRole('table', { name: 'quarantine' });
    assert.match(await table.innerText(), /PermanentError|item \d+ is broken/);
    await table.locator('details summary').first().click();
    assert.match(await table.locator('pre.payload').first().innerText(), /"id": \d+/, 'the payload is shown');
    const label = (await first.getAttribute('aria-label'))!;
    const entryId = Number(/\d+/.exec(label)![0]);
    await first.click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), new RegExp(`item ${entryId}`));
    await page.getByRole('button', { name: 'Replay now' }).click();
    const flash = page.locator('#flash');
    await until(
      page,
      () => flash.innerText(),
      (t) => /Replayed/.test(t),
      'the replay result',
    );
    assert.equal(
      await flash.innerText(),
      'Replayed 0 of 1; 1 still failing (still quarantined).',
      'one item, the one chosen, was replayed',
    );
    assert.equal(await flash.getAttribute('class'), 'error', 'a replay that leaves items failing reads as an error');
  });

  it('replays one quarantined item that now succeeds, leaving the other in the quarantine', async () => {
    const runId = mendedRun;
    downstream.broken = false; // the fix is deployed
    await page.goto(`${h.url}/#/runs/${runId}/quarantine`);
    const entries = (await call(h, 'GET', `/api/v1/runs/${runId}/quarantine`, { token: h.tokens.read })).json.entries as Array<{
      id: number;
      itemKey: unknown;
    }>;
    assert.deepEqual(
      entries.map((e) => String(e.itemKey)),
      ['7', '21'],
    );
    await page.getByRole('button', { name: `Replay item ${entries[0]!.id}` }).click();
    await page.getByRole('button', { name: 'Replay now' }).click();
    const flash = page.locator('#flash');
    await until(
      page,
      () => flash.innerText(),
      (t) => /Replayed/.test(t),
      'the replay result',
    );
    assert.equal(await flash.innerText(), 'Replayed 1 of 1.');
    assert.equal(await flash.getAttribute('class'), 'ok');
    await until(
      page,
      () => page.getByRole('button', { name: /^Replay item \d+$/ }).count(),
      (n) => n === 1,
      'the replayed item to leave the open quarantine',
    );
    const left = (await call(h, 'GET', `/api/v1/runs/${runId}/quarantine`, { token: h.tokens.read })).json.entries as Array<{
      itemKey: unknown;
    }>;
    assert.deepEqual(
      left.map((e) => String(e.itemKey)),
      ['21'],
      'only the chosen item was replayed',
    );
  });

  it('filters the runs list by backfill and state, in the address so that it can be shared', async () => {
    await page.goto(`${h.url}/#/`);
    await page.locator(`tr[data-run="${liveRun}"]`).waitFor();
    const filter = page.getByRole('form', { name: 'filter runs' });
    await filter.locator('select[name=backfill]').selectOption('quick');
    await filter.locator('select[name=state]').selectOption('succeeded');
    await filter.getByRole('button', { name: 'Filter' }).click();
    await until(
      page,
      () => page.evaluate('location.hash') as Promise<string>,
      (hash) => hash === '#/?backfill=quick&state=succeeded',
      'the filter in the address',
    );
    await page.locator(`tr[data-run="${doneRun}"]`).waitFor();
    assert.equal(await page.locator(`tr[data-run="${liveRun}"]`).count(), 0, 'the slow run is filtered out');
    const rows = await page.locator('#runs-body tr').allInnerTexts();
    assert.ok(rows.length > 0 && rows.every((row) => /quick\s+succeeded/.test(row)), JSON.stringify(rows));
  });

  it('a read-only token sees its scope and no enabled write control; a write token does', async () => {
    const read = await signIn(reader, h.url, h.tokens.read);
    assert.match(await read.locator('#whoami').innerText(), /reader\s+read/);
    assert.match(await read.locator('#view').innerText(), /Signed in read-only/);
    assert.deepEqual(await enabledWriteControls(read), [], 'runs list');
    await read.goto(`${h.url}/#/runs/${liveRun}`);
    await until(
      read,
      () => read.locator('#run-state').innerText(),
      (s) => s === 'running',
      'the run page',
    );
    assert.equal(await read.getByRole('button', { name: 'Pause' }).getAttribute('title'), 'needs a write token; this one is read-only');
    assert.deepEqual(await enabledWriteControls(read), [], 'run page');
    await read.goto(`${h.url}/#/runs/${doneRun}/quarantine`);
    await read.getByRole('table', { name: 'quarantine' }).waitFor();
    assert.ok((await read.getByRole('button', { name: /^Replay item/ }).count()) > 0);
    assert.deepEqual(await enabledWriteControls(read), [], 'quarantine view');
    await read.close();

    await page.goto(`${h.url}/#/runs/${liveRun}`);
    await until(
      page,
      () => page.locator('#run-state').innerText(),
      (s) => s === 'running',
      'the run page',
    );
    await until(
      page,
      () => enabledWriteControls(page),
      (names) => ['Pause', 'Cancel…', 'Retune…'].every((n) => names.includes(n)),
      'the write controls to be enabled',
    );
  });

  it('fits every width from 360 px to 1440 px with no sideways scrolling, and passes axe', async () => {
    const views: Array<[string, string, () => Promise<unknown>]> = [
      ['runs', '/#/', () => page.locator(`tr[data-run="${liveRun}"]`).waitFor()],
      [
        'run',
        `/#/runs/${liveRun}`,
        () =>
          until(
            page,
            () => page.locator('#chart-rate canvas').count(),
            (n) => n > 0,
            'the chart',
          ),
      ],
      ['quarantine', `/#/runs/${doneRun}/quarantine`, () => page.getByRole('table', { name: 'quarantine' }).waitFor()],
    ];
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width < 800 ? 844 : 900 });
      for (const [name, path, ready] of views) {
        await page.goto(`${h.url}${path}`);
        await ready();
        const { scrollWidth, innerWidth } = (await page.evaluate(
          '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
        )) as { scrollWidth: number; innerWidth: number };
        await page.screenshot({ path: `${SCREENSHOTS}${name}-${width}.png`, fullPage: true });
        assert.ok(scrollWidth <= innerWidth, `${name} at ${width} px: ${scrollWidth} px wide`);
        assert.doesNotMatch(await page.locator('#view').innerText(), /\b(null|undefined)\b/, `${name} at ${width} px`);
        if (width === 390 || width === 1440) await noSeriousAxeViolations(page, `${name} at ${width} px`);
        // SLUICE_DOC_SCREENSHOTS=1 refreshes the two pictures docs/api.md shows (the run page, and on a phone).
        if (process.env.SLUICE_DOC_SCREENSHOTS === '1' && name === 'run' && (width === 390 || width === 1440)) {
          await page.screenshot({
            path: new URL(`../../docs/images/dashboard-${width === 390 ? 'phone' : 'run'}.png`, import.meta.url).pathname,
          });
        }
      }
    }
    const missing = (page as Page & { missing?: string[] }).missing!;
    assert.deepEqual(missing, [], 'nothing the page loads is a 404 (the favicon included)');
  });
});
