import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { call, type Harness, harness, stores } from '../helpers/api.js';
import { chromiumSkip, launchChromium, until } from '../helpers/chromium.js';

const RESULTS = new URL('../../test-results/', import.meta.url).pathname;

describe('the dashboard in a real Chromium', { skip: chromiumSkip() }, () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  before(async () => {
    mkdirSync(RESULTS, { recursive: true });
    h = await harness(stores[0]![1]);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('signs in by keyboard, shows a run started from the API, and moves its progress bar without a reload', async () => {
    await page.goto(`${h.url}/`);
    await page.getByLabel('API token').fill(h.tokens.write);
    await page.getByLabel('API token').press('Enter');
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));

    const created = await call(h, 'POST', '/api/v1/runs', {
      token: h.tokens.write,
      body: { backfill: 'slow', owner: 'browser-test', params: { tenant: 'ui' } },
    });
    assert.equal(created.status, 201, created.text);
    const runId = (created.json.run as { id: string }).id;
    const bar = page.locator(`progress[data-run="${runId}"]`);
    await bar.waitFor({ timeout: 20_000 });
    // The run's link stays the same element while events redraw the table (a click is never lost to a redraw).
    const link = await page.getByRole('link', { name: runId }).elementHandle();
    const first = await until(
      page,
      async () => Number((await bar.getAttribute('value')) ?? '0'),
      (v) => v > 0,
      'the progress bar to start',
    );
    const later = await until(
      page,
      async () => Number((await bar.getAttribute('value')) ?? '0'),
      (v) => v > first,
      'the progress bar to move',
    );
    assert.ok(later > first);
    assert.equal(await link!.evaluate((node) => node.isConnected), true, 'the link survived the progress updates');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce),
      true,
      'the page was never reloaded',
    );
    assert.match(await page.locator(`tr[data-run="${runId}"]`).innerText(), /slow\s+running[\s\S]*browser-test/);
    await page.screenshot({ path: `${RESULTS}runs-list.png`, fullPage: true });
  });

  it('pauses and resumes from the run page, and cancels only after confirming', async () => {
    const runId = await page.locator('tbody#runs-body tr').first().getAttribute('data-run');
    await page.getByRole('link', { name: runId! }).click();
    const badge = page.locator('#run-state');
    await until(
      page,
      () => badge.innerText(),
      (s) => s === 'running',
      'the run page to show running',
    );
    await until(
      page,
      () => page.locator('#chart-duration canvas').count(),
      (n) => n > 0,
      'the batch duration chart',
    );

    await page.getByRole('button', { name: 'Pause' }).click();
    await until(
      page,
      () => badge.innerText(),
      (s) => s === 'paused',
      'the run to be paused',
    );
    // The state and why it is so are apart; the throttle does not claim to be running a paused run.
    await until(
      page,
      () => page.locator('#run-reason').innerText(),
      (s) => /through the API|token:writer|paused/.test(s),
      'the reason of the pause',
    );
    assert.match(await page.locator('#throttle').innerText(), /not in effect \(the run is paused\)/);
    await page.getByRole('button', { name: 'Resume' }).click();
    await until(
      page,
      () => badge.innerText(),
      (s) => s === 'running',
      'the run to run again',
    );
    await page.screenshot({ path: `${RESULTS}run-page.png`, fullPage: true });

    await page.getByRole('button', { name: 'Cancel…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /cannot be resumed/);
    await page.getByRole('button', { name: 'Keep it running' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const kept = (await call(h, 'GET', `/api/v1/runs/${runId}`, { token: h.tokens.read })).json.run as { state: string; control: unknown };
    assert.deepEqual([kept.state, kept.control], ['running', null], 'declining the confirmation sends nothing');

    await page.getByRole('button', { name: 'Cancel…' }).click();
    await page.getByRole('button', { name: 'Cancel the run' }).click();
    await until(
      page,
      () => badge.innerText(),
      (s) => s === 'cancelled',
      'the run to be cancelled',
    );
    const transitions = await page.getByRole('table', { name: 'transitions' }).innerText();
    assert.match(transitions, /paused\s+token:writer/);
    assert.match(transitions, /cancelled\s+token:writer/);
  });

  it('shows bidi controls in what the server sends instead of displaying reversed text', async () => {
    const created = await call(h, 'POST', '/api/v1/runs', {
      token: h.tokens.write,
      body: { backfill: 'quick', owner: 'evil\u202Egnp.exe', params: { tenant: 'bidi' } },
    });
    const runId = (created.json.run as { id: string }).id;
    await page.goto(`${h.url}/`);
    const row = page.locator(`tr[data-run="${runId}"]`);
    await row.waitFor({ timeout: 20_000 });
    const text = await row.innerText();
    assert.match(text, /evil<U\+202E>gnp\.exe/);
    assert.ok(!text.includes('\u202E'), 'no bidi control reaches the page');
  });
});
