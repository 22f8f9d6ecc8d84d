// The service centre's desk in a real browser: an operator serves a citizen's representative
// end to end - the checks at the desk, scans dropped and chosen, the operator's signature, the
// printed result and the handout - with axe-core on each screen.

import { open, shot, accessible, savedPdf, check, run, LIMIT } from './harness.mjs';

const OPERATOR = '900101300007';
const CENTRE = 'TsON-Almaty-3';
// The registry fixture: Aida gave Serik the notarised power of attorney ENIS-2025-000208.
const AIDA = '760324400005';
const SERIK = '850715300003';
// A scan as the desk's scanner makes it (the server tells the kind by the bytes).
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Buffer.from('\0\0\0\rIHDR scanned document')];

await run({
  async 'an operator serves a represented citizen from the checks to the handout'(browser) {
    const page = await open(browser, '/centre');
    await page.waitForSelector('#signin-dev:not([hidden])');
    await accessible(page, 'desk sign-in');
    await page.fill('#dev-iin', OPERATOR);
    await page.fill('#dev-centre', CENTRE);
    await page.click('#signin-dev button[type=submit]');
    await page.waitForSelector('#person:not([hidden])');
    await page.waitForFunction(() => document.querySelectorAll('#service option').length > 0);
    await page.selectOption('#service', 'pension-fund-statement');
    await page.fill('#p-iin', SERIK);
    await page.fill('#p-surname', 'Сериков');
    await page.fill('#p-given', 'Болат');
    await page.fill('#p-patronymic', 'Аскарович');
    await page.fill('#p-doc-number', '049871234');
    await page.check('#represents');
    await page.fill('#r-iin', AIDA);
    await page.fill('#poa-number', 'ENIS-2025-000208');
    await page.fill('#poa-date', '2025-06-10');
    await page.fill('#field-period_start', '2023-01-01');
    await page.fill('#field-period_end', '2023-12-31');
    await accessible(page, 'the person at the desk');
    await shot(page, 'centre-1-person');
    await page.click('#file-button');
    await page.waitForSelector('#checks:not([hidden])');
    const checks = await page.$$eval('#check-list li strong', (items) => items.map((i) => i.className));
    check(checks.length === 3 && checks.every((c) => c === 'passed'), `GBD FL twice and ENIS passed: ${checks}`);
    // The identity document dropped on the zone, the power of attorney chosen as a file.
    await page.selectOption('#scan-kind', 'identity-document');
    const dropped = await page.evaluateHandle((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'id.png', { type: 'image/png' }));
      return transfer;
    }, PNG);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dropped });
    await page.waitForFunction(() => document.querySelectorAll('#scan-list li').length === 1);
    await page.selectOption('#scan-kind', 'power-of-attorney');
    await page.setInputFiles('#scan-file', { name: 'poa.png', mimeType: 'image/png', buffer: Buffer.from(PNG) });
    await page.waitForFunction(() => document.querySelectorAll('#scan-list li').length === 2);
    await accessible(page, 'checks and scans');
    await shot(page, 'centre-2-checks-and-scans');
    await page.click('#sign');
    await page.waitForSelector('#status:not([hidden])');
    await page.waitForSelector('#print:not([hidden])', { timeout: LIMIT });
    check((await page.textContent('#s-iin')) === AIDA, 'the represented citizen owns the request');
    check(await page.isHidden('#s-refusal'), `served, not refused: ${await page.textContent('#s-status')}`);
    await savedPdf(page);
    await page.click('#handout');
    await page.waitForSelector('#handed:not([hidden])');
    check((await page.textContent('#handed')).includes(await page.textContent('#s-number')), 'the handout names the document');
    await accessible(page, 'the served request');
    await shot(page, 'centre-3-handed-out');
    check(page.errors.length === 0, `no script errors: ${page.errors.join('; ')}`);
    await page.context().close();
  },
});
