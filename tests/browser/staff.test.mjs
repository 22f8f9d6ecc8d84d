// The auditor's and the analyst's views in a real browser: a request's history as a timeline
// whose every event the page proves in the log's signed tree (checking the Merkle proofs
// itself), and the analytics as charts with their tables - axe-core on each screen.

import { open, shot, accessible, check, run, LIMIT } from './harness.mjs';

const CITIZEN = '850715300003';
const STAFF = '900101300007';

// A completed request, filed through the citizen's page; its number.
async function filed(browser) {
  const page = await open(browser);
  await page.fill('#dev-iin', CITIZEN);
  await page.click('#signin-dev button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#service option').length > 0);
  await page.selectOption('#service', 'disability-benefit-info');
  await page.click('#file-button');
  await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
  const number = await page.textContent('#s-number');
  await page.context().close();
  return number;
}

async function signIn(page, role) {
  await page.waitForSelector('#signin-dev:not([hidden])');
  await page.fill('#dev-iin', STAFF);
  await page.click('#signin-dev button[type=submit]');
  await page.waitForSelector('#signin', { state: 'hidden' });
  await page.waitForFunction(() => document.querySelector('#who').textContent.includes('900101300007'));
  check(!(await page.isVisible('#signin')), `signed in as the ${role}`);
}

await run({
  async 'an auditor sees a request history with every event proven in the signed log'(browser) {
    const number = await filed(browser);
    const page = await open(browser, '/audit');
    await accessible(page, 'audit sign-in');
    await signIn(page, 'auditor');
    await page.fill('#number', number);
    await page.click('#lookup-form button[type=submit]');
    await page.waitForSelector('#timeline:not([hidden])');
    const events = await page.$$eval('#events li', (items) => items.length);
    check(events >= 5, `the request's events: ${events}`);
    check(await page.getAttribute('#chain', 'class') === 'passed', 'the hash chain is intact');
    check((await page.$$eval('#events .hash', (hashes) => hashes.map((h) => h.textContent)))
      .every((h) => /[0-9a-f]{64}$/.test(h)), 'each event shows its hash and the one before');
    // The page asks again until each event is in a signed head, and checks each proof itself.
    await page.waitForFunction((n) => document.querySelectorAll('#events .proven').length === n, events, { timeout: LIMIT });
    check(await page.$$eval('#events .failed', (bad) => bad.length) === 0, 'no proof fails');
    await accessible(page, 'timeline');
    await shot(page, 'audit-1-timeline');
    // 409 is the log's "not yet in a signed head" the page waits out; nothing else may fail.
    const errors = page.errors.filter((e) => !e.includes('status of 409'));
    check(errors.length === 0, `no script errors: ${errors.join('; ')}`);
    await page.context().close();
  },

  async 'an analyst sees the requests per day as charts and as tables'(browser) {
    await filed(browser);
    const page = await open(browser, '/analytics');
    await accessible(page, 'analytics sign-in');
    await signIn(page, 'analyst');
    await page.click('#filters-form button[type=submit]');
    await page.waitForSelector('#chart-requests canvas');
    const rows = await page.$$eval('#chart-requests table tr', (r) => r.length);
    check(rows >= 2, `a header and at least one day: ${rows}`);
    const completed = await page.$$eval('#chart-requests th', (cells) => cells.map((c) => c.textContent));
    check(completed.includes('оказана'), `the outcomes are named: ${completed}`);
    await accessible(page, 'charts');
    await shot(page, 'analytics-1-charts');
    check(page.errors.length === 0, `no script errors: ${page.errors.join('; ')}`);
    await page.context().close();
  },
});
