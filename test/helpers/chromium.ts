import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { realClockEnv } from './real-clock-env.js';

/** Debian's Chromium (never a downloaded browser); SLUICE_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests skip here, or false when they run; CI sets SLUICE_REQUIRE_CHROMIUM=1 so that they must. */
export function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.SLUICE_REQUIRE_CHROMIUM === '1') throw new Error(`Chromium is required at ${CHROMIUM} (apt-get install -y chromium)`);
  return `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
}

/**
 * Headless Chromium with the flags this machine's closed network needs, on the true clock (under
 * libfaketime its pages crawl: see real-clock-env.ts).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
    env: realClockEnv(),
  });
}

/** Polls a value in the page until `accept` says yes, without reloading it (a deadline, no sleeps to wait for state). */
export async function until<T>(
  page: Page,
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(value)})`);
    await page.waitForTimeout(100);
  }
}
