import type { Test } from 'tap';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { findProgram } from './programs.js';

export const CALLBACK_PATTERN = 'https://client.localhost/**';

/** Headless Chromium as test/browser.test.ts runs it. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: findProgram('chromium')!,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh browser profile (cookies and all), closed with the test; the dev CA is not in its trust store. The client's redirect URI is stubbed. */
export async function newContext(browser: Browser, t: Test): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  t.teardown(() => context.close());
  await context.route(CALLBACK_PATTERN, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title><p>Back at the client</p>' }));
  return context;
}

/** A page of `context` (whose navigations to the client's redirect URI are answered by a stub: client.localhost does not exist). */
export async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  // The stub does not answer every redirect hop to the callback: the request itself is what counts.
  const seen: string[] = [];
  callbacks.set(page, seen);
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.url().startsWith(CALLBACK_ORIGIN)) seen.push(request.url());
  });
  return page;
}

const CALLBACK_ORIGIN = 'https://client.localhost/';
const callbacks = new WeakMap<Page, string[]>();

/** The first navigation of `page` to the client's redirect URI (waits for it). */
export async function callbackUrl(page: Page, timeoutMs = 20_000): Promise<URL> {
  const seen = callbacks.get(page)!;
  for (const end = Date.now() + timeoutMs; !seen.length && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!seen.length) throw new Error(`no navigation to the client's redirect URI; the page is at ${page.url()}`);
  return new URL(seen.shift()!);
}
