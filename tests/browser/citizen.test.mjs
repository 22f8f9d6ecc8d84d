// The citizen's page in a real browser: filing each service with the development certificate
// to its result PDF, a refusal's reason in three languages and its PDF, keyboard-only filing,
// and axe-core on each screen.

import { open, shot, accessible, savedPdf, check, run, LIMIT } from './harness.mjs';

const WITH_BENEFIT = '850715300003'; // the registry fixture has a disability benefit for him
const WITHOUT_DATA = '900101400003'; // and no benefit data for her

async function signIn(page, iin) {
  await page.fill('#dev-iin', iin);
  await page.click('#signin-dev button[type=submit]');
  await page.waitForSelector('#file:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#service option').length > 0);
}

async function fileAndWait(page, service) {
  await page.selectOption('#service', service);
  await page.click('#file-button');
  await page.waitForSelector('#status:not([hidden])');
  // No click on "refresh status": the page follows the request by itself until its result or
  // refusal document is issued.
  await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
}

// Each service a citizen files on the portal, with a citizen of the registry fixture who gets
// its result, and the form it needs.
const SERVICES = [
  ['birth-childcare-benefit-info', '760324400005', {}],
  ['gcvp-pension-info', '620412300009', {}],
  ['basic-pension-info', '620412300009', {}],
  ['disability-benefit-info', '850715300003', {}],
  ['survivor-benefit-info', '551130400004', {}],
  ['age-benefit-info', '551130400004', {}],
  ['special-state-benefit-info', '620412300009', {}],
  ['state-special-benefit-info', '850715300003', {}],
  ['sik-assignment', '010510500007', {}],
  ['pension-fund-statement', '760324400005', { period_start: '2023-01-01', period_end: '2023-12-31' }],
];

// Files `service` for `iin` with `form` and saves its result PDF; notes the services offered.
async function fileOne(browser, offered, service, iin, form) {
  const page = await open(browser);
  await signIn(page, iin);
  for (const code of await page.$$eval('#service option', (o) => o.map((x) => x.value))) offered.add(code);
  await page.selectOption('#service', service);
  for (const [key, value] of Object.entries(form)) await page.fill(`#field-${key}`, value);
  await page.click('#file-button');
  await page.waitForFunction(() => !document.querySelector('#status').hidden || !document.querySelector('#notice').hidden, null, { timeout: LIMIT });
  check(await page.isHidden('#notice'), `a problem: ${await page.textContent('#notice')}`);
  await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
  check(await page.isHidden('#s-refusal'), `refused: ${await page.textContent('#s-refusal')}`);
  await savedPdf(page);
  await shot(page, `citizen-0-${service}`);
  await page.context().close();
}

await run({
  async 'a citizen files each kind of service and gets its result PDF'(browser) {
    const offered = new Set();
    for (const [service, iin, form] of SERVICES) {
      await fileOne(browser, offered, service, iin, form)
        .catch((error) => { throw new Error(`${service} for ${iin}: ${error.message}`); });
    }
    const filed = new Set(SERVICES.map(([service]) => service));
    check([...offered].every((code) => filed.has(code)), `every service offered was filed: ${[...offered]}`);
    check(!offered.has('social-status-check'), 'the social-status check is not offered to citizens');
  },

  async 'a citizen files a service, signs it and saves the result PDF'(browser) {
    const page = await open(browser);
    await page.waitForSelector('#signin-dev:not([hidden])');
    // A test citizen to pick: the registries' synthetic citizens, by IIN and name.
    const offered = await page.$$eval('#test-citizens option', (o) => o.map((x) => `${x.value} ${x.textContent}`));
    check(offered.includes(`${WITH_BENEFIT} СЕРИКОВ БОЛАТ`), `the fixture's citizens are offered: ${offered}`);
    await accessible(page, 'sign-in');
    await shot(page, 'citizen-1-sign-in');
    await signIn(page, WITH_BENEFIT);
    await accessible(page, 'new request');
    await shot(page, 'citizen-2-new-request');
    await fileAndWait(page, 'disability-benefit-info');
    check((await page.textContent('#s-iin')) === WITH_BENEFIT, 'step 3 shows the IIN');
    check(/^\d{14}$/.test(await page.textContent('#s-number')), 'step 3 shows the request number');
    check(await page.isHidden('#s-refusal'), 'no refusal');
    await accessible(page, 'status');
    await shot(page, 'citizen-3-result');
    await savedPdf(page);
    await page.waitForFunction(() => document.querySelectorAll('#history-rows tr').length > 0);
    check(page.errors.length === 0, `no script errors: ${page.errors.join('; ')}`);
    await page.context().close();
  },

  async 'a refusal shows its reason in Russian, Kazakh and English'(browser) {
    const page = await open(browser);
    await signIn(page, WITHOUT_DATA);
    await fileAndWait(page, 'disability-benefit-info');
    check(await page.isVisible('#s-refusal'), 'the refusal is shown');
    await savedPdf(page); // the signed refusal document
    const reasons = {};
    for (const lang of ['ru', 'kk', 'en']) {
      await page.selectOption('#lang', lang);
      reasons[lang] = (await page.textContent('#s-refusal')).trim();
      check(await page.evaluate(() => document.documentElement.lang) === lang, `the page is in ${lang}`);
      await shot(page, `citizen-4-refusal-${lang}`);
    }
    check(new Set(Object.values(reasons)).size === 3 && Object.values(reasons).every(Boolean),
      `three different reasons: ${JSON.stringify(reasons)}`);
    await accessible(page, 'refusal');
    await page.context().close();
  },

  async 'the status on screen updates by itself when the workflow moves'(browser) {
    // Filed but not signed yet, shown from the history; then signed elsewhere (another tab).
    const page = await open(browser);
    await signIn(page, WITH_BENEFIT);
    const filed = await page.evaluate(async () => {
      const common = await import('/assets/common.js');
      const body = { service: 'disability-benefit-info', iin: '850715300003', form: {} };
      return common.json('/api/v1/requests', { method: 'POST', body });
    });
    await page.reload();
    const show = `#history-rows button[aria-label$="${filed.number}"]`;
    await page.click(show);
    await page.waitForFunction((n) => document.querySelector('#s-number').textContent === n, filed.number);
    const before = await page.textContent('#s-status');
    const other = await open(browser);
    await signIn(other, WITH_BENEFIT);
    await other.evaluate(async ({ number, document }) => {
      const common = await import('/assets/common.js');
      const cms = await common.sign(common.unbase64(document), document);
      await common.api(`/api/v1/requests/${number}/signature`, { method: 'POST', body: { cms: common.base64(cms) } });
    }, { number: filed.number, document: filed.document_to_sign });
    await other.context().close();
    // No click here: the long poll brings the change.
    await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
    const after = await page.textContent('#s-status');
    check(before !== after, `the status moved on its own: ${before} -> ${after}`);
    await page.context().close();
  },

  async 'a citizen files with the keyboard alone'(browser) {
    const page = await open(browser);
    await page.waitForSelector('#signin-dev:not([hidden])');
    const tabTo = async (id) => {
      for (let i = 0; i < 30; i++) {
        if (await page.evaluate(() => document.activeElement?.id) === id) return;
        await page.keyboard.press('Tab');
      }
      throw new Error(`Tab never reaches #${id}`);
    };
    await tabTo('dev-iin');
    await page.keyboard.type(WITH_BENEFIT);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#file:not([hidden])');
    await page.waitForFunction(() => document.querySelectorAll('#service option').length > 0);
    await tabTo('service');
    const wanted = await page.evaluate(() => [...document.querySelectorAll('#service option')].findIndex((o) => o.value === 'disability-benefit-info'));
    const current = await page.evaluate(() => document.querySelector('#service').selectedIndex);
    for (let i = current; i < wanted; i++) await page.keyboard.press('ArrowDown');
    check(await page.inputValue('#service') === 'disability-benefit-info', 'the service is chosen with the arrows');
    await tabTo('file-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
    await tabTo('open');
    await shot(page, 'citizen-5-keyboard');
    await page.context().close();
  },
});
