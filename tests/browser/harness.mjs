// What the browser tests share: chromium driven by playwright-core, a fresh context per test,
// screenshots into the artifacts directory, axe-core's serious and critical rules, and a small
// runner that reports each test. A test file: node FILE.test.mjs BASE_URL ARTIFACTS_DIR.

import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const [base, artifacts] = process.argv.slice(2);
export const LIMIT = 60_000;

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A new page at `path` of the service, in a context of its own; script errors are collected.
// `prepare` (routes the page's requests take, say) runs before the page is loaded.
export async function open(browser, path = '/', prepare = async () => {}) {
  const context = await browser.newContext({ acceptDownloads: true, locale: 'ru-RU' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.errors = errors;
  await prepare(page);
  await page.goto(base + path);
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
}

// axe-core over the page as it is: no serious or critical violation.
export async function accessible(page, screen) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const serious = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  check(serious.length === 0, `${screen}: ${serious.map((v) => `${v.id} (${v.nodes.map((n) => n.target).join(' ')})`).join('; ')}`);
}

// The bytes of the document `#save` downloads: a PDF named NUMBER.pdf.
export async function savedPdf(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  const pdf = readFileSync(await download.path());
  check(pdf.subarray(0, 4).toString() === '%PDF', 'the saved document is a PDF');
  check(download.suggestedFilename().endsWith('.pdf'), 'saved as NUMBER.pdf');
}

// Runs each of `tests` (name -> async function of the browser) and exits 1 when one failed.
export async function run(tests) {
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
  let failed = 0;
  for (const [name, test] of Object.entries(tests)) {
    try {
      await test(browser);
      console.log(`ok - ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`FAILED - ${name}: ${error.stack ?? error}`);
    }
  }
  await browser.close();
  console.log(`${Object.keys(tests).length - failed} passed, ${failed} failed; screenshots in ${artifacts}`);
  process.exit(failed ? 1 : 0);
}
