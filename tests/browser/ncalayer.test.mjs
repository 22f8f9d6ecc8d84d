// Production's signing path on the citizen's page: no development stand-ins (their routes answer
// 404, as in production), the portal's token typed in, and the signature made by NCALayer over its
// local WebSocket. NCALayer is played in the browser by playwright's WebSocket routing: it signs
// what the page asks with a key file (`egov sign`, as NCALayer does with the person's EDS), so the
// server checks a real CMS as it would NCALayer's.

import { spawnSync } from 'node:child_process';
import { base, open, shot, accessible, check, run, LIMIT } from './harness.mjs';

const IIN = '850715300003'; // the registry fixture has a disability benefit for him
const NCALAYER = /^wss:\/\/127\.0\.0\.1:13579\/?$/;
const { EGOV_BIN, NCALAYER_P12 } = process.env;

// The portal's token for `IIN` (here from the development stand-in, before the page hides it).
async function portalToken() {
  const answer = await fetch(`${base}/api/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ iin: IIN }),
  });
  check(answer.ok, `a token: ${answer.status}`);
  return (await answer.json()).token;
}

// The page as production serves it, with `ncalayer` answering its WebSocket, signed in with the
// portal's token and the service chosen.
async function inProduction(browser, ncalayer) {
  const page = await open(browser, '/', async (page) => {
    await page.route('**/api/v1/dev**', (route) => route.fulfill({
      status: 404,
      contentType: 'application/problem+json',
      body: JSON.stringify({ code: 'not-found' }),
    }));
    await page.routeWebSocket(NCALAYER, ncalayer);
  });
  await page.waitForSelector('#signin:not([hidden])');
  check(await page.isHidden('#signin-dev'), 'no development sign-in in production');
  await page.fill('#token', await portalToken());
  await page.click('#signin-token button[type=submit]');
  await page.waitForSelector('#file:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#service option').length > 0);
  await page.selectOption('#service', 'disability-benefit-info');
  return page;
}

// NCALayer with a key file: greets, then answers createCAdESFromBase64 with an attached CMS over
// the document; each request it was sent is kept in `asked`.
function signingWithKeyFile(asked) {
  return (socket) => {
    socket.send(JSON.stringify({ result: { version: '1.4' } }));
    socket.onMessage((message) => {
      const request = JSON.parse(String(message));
      asked.push(request);
      const signed = spawnSync(EGOV_BIN, ['sign', '--p12', NCALAYER_P12, '--in', '-'], {
        input: JSON.stringify({ document_to_sign: request.args?.[2] }),
      });
      socket.send(JSON.stringify(signed.status === 0
        ? { code: '200', responseObject: JSON.parse(String(signed.stdout)).cms }
        : { code: '500', message: String(signed.stderr) }));
    });
  };
}

await run({
  async 'in production the citizen signs with NCALayer and gets the result'(browser) {
    check(EGOV_BIN && NCALAYER_P12, 'EGOV_BIN and NCALAYER_P12 (scripts/browser-test.sh sets them)');
    const asked = [];
    const page = await inProduction(browser, signingWithKeyFile(asked));
    await page.click('#file-button');
    await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
    check(await page.isHidden('#s-refusal'), `refused: ${await page.textContent('#s-refusal')}`);
    check(asked.length === 1, `NCALayer was asked once: ${asked.length}`);
    const [request] = asked;
    check(request.module === 'kz.gov.pki.knca.commonUtils' && request.method === 'createCAdESFromBase64',
      `a CAdES from base64: ${request.module} ${request.method}`);
    check(request.args[0] === 'PKCS12' && request.args[1] === 'SIGNATURE' && request.args[3] === true,
      `a signing key, the document attached: ${JSON.stringify(request.args.filter((_, i) => i !== 2))}`);
    check(await page.textContent('#s-number') !== '', 'step 3 names the request');
    await shot(page, 'citizen-6-ncalayer');
    await accessible(page, 'signed with NCALayer');
    // The page asks whether the development stand-ins are there; production's 404 is logged by
    // the browser as a failed load, and is no error of the page's.
    const errors = page.errors.filter((e) => !e.startsWith('Failed to load resource'));
    check(errors.length === 0, `no script errors: ${errors.join('; ')}`);
    await page.context().close();
  },

  async 'without NCALayer the page says so, keeps the request, and it is signed later from the history'(browser) {
    // NCALayer is not running (the socket closes unanswered) until the test starts it.
    let running = false;
    const asked = [];
    const signing = signingWithKeyFile(asked);
    const page = await inProduction(browser, (socket) => (running ? signing(socket) : socket.close()));
    await page.click('#file-button');
    await page.waitForSelector('#notice:not([hidden])', { timeout: LIMIT });
    const notice = await page.textContent('#notice');
    check(notice.includes('NCALayer не отвечает'), `the notice names NCALayer: ${notice}`);
    // Step 3 shows the request filed and waiting for its signature, with the button to sign it.
    await page.waitForSelector('#sign-again:not([hidden])', { timeout: LIMIT });
    const number = await page.textContent('#s-number');
    check(/^\d{14}$/.test(number), `step 3 names the request: ${number}`);
    check(await page.isHidden('#open'), 'no result yet');
    await shot(page, 'citizen-7-no-ncalayer');
    await accessible(page, 'waiting for NCALayer');
    // Later - the page reloaded - the citizen opens it from the history and signs it there.
    await page.reload();
    await page.click(`#history-rows button[aria-label$="${number}"]`);
    await page.waitForSelector('#sign-again:not([hidden])', { timeout: LIMIT });
    running = true;
    await page.click('#sign-again');
    await page.waitForSelector('#open:not([hidden])', { timeout: LIMIT });
    check(asked.length === 1, `NCALayer, once running, was asked once: ${asked.length}`);
    check(await page.textContent('#s-number') === number, 'the same request was signed, none filed anew');
    check(await page.isHidden('#sign-again'), 'nothing more to sign');
    await page.context().close();
  },
});
