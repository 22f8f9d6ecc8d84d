// The citizen's page: sign in, file a request, sign it, then step 3 of the regulations - the
// request's number, service, status and deadline, refreshed by a long poll - and the result or
// refusal document to open or save; the history of requests and who looked at the citizen's
// data. Everything comes from the JSON API with the citizen's bearer token.

import {
  $, t, inLanguage, unbase64, base64, element, localTime, api, json, notify,
  translate, languageSwitch, sign, documentPdf, savePdf, follow, servicesFor,
  renderServiceForm, renderFormFields, formValues, startSignIn, session, renderStatus as showStatus,
} from './common.js';

const page = {
  iin: null,
  services: [],
  request: null, // the status answer of the request on screen
  following: null, // which show() follows the request on screen
  history: [],
  access: [],
};

function redraw() {
  document.title = t('title');
  if (page.iin) $('who').textContent = `${t('signedInAs')} ${page.iin}`;
  renderServices();
  renderStatus();
  renderHistory();
  renderAccess();
}

// --- signing in ---

const { signIn, signOut, failed } = session({
  storage: 'token',
  sections: ['file', 'history', 'access'],
  later: ['status'],
  async enter(iin) {
    page.iin = iin;
    translate(redraw);
    // Before the loads: focus moved once they end would pull it from where the person went meanwhile.
    $('main').focus();
    await Promise.all([loadServices(), loadHistory(), loadAccess()]);
  },
  leave: () => Object.assign(page, { iin: null, request: null }),
});

// --- filing ---

// Filed through the portal by medical organisations' users, not by citizens (docs/domain.md 8).
const NOT_FOR_CITIZENS = new Set(['social-status-check']);

async function loadServices() {
  page.services = (await servicesFor('portal')).filter((s) => !NOT_FOR_CITIZENS.has(s.code));
  renderServices();
}

function renderServices() {
  renderServiceForm(page.services);
}

async function file(event) {
  event.preventDefault();
  await signingWith($('file-button'), 'fileAndSign', async () => {
    const filed = await json('/api/v1/requests', {
      method: 'POST',
      headers: { 'idempotency-key': crypto.randomUUID() },
      body: { service: $('service').value, iin: page.iin, form: formValues() },
    });
    await signAndShow(filed.number, filed.document_to_sign);
  });
}

// «Подписать ЭЦП» on step 3, for the request on screen while it waits for the signature (its
// signing here failed, or it was opened from the history): its document comes from the API.
async function signAgain() {
  const { number } = page.request;
  await signingWith($('sign-again'), 'signAgain', async () => {
    const again = await json(`/api/v1/requests/${encodeURIComponent(number)}/document`);
    await signAndShow(number, again.document_to_sign);
  });
}

// Runs `work` (filing and signing, or signing alone) with `button` disabled and saying it
// signs, then gives the button back its `label`; a failure is shown.
async function signingWith(button, label, work) {
  notify(null);
  button.disabled = true;
  button.textContent = t('signing');
  try {
    await work();
  } catch (error) {
    failed(error);
  } finally {
    button.disabled = false;
    button.textContent = t(label);
  }
}

// Signs request `number`'s `document` (base64) and shows its status. When signing fails the
// request is shown awaiting its signature, with «Подписать ЭЦП» to try again, and the failure is
// thrown on.
async function signAndShow(number, document) {
  let accepted;
  try {
    const cms = await sign(unbase64(document), document);
    accepted = await json(`/api/v1/requests/${number}/signature`, { method: 'POST', body: { cms: base64(cms) } });
  } catch (error) {
    // Version 1 is its filing, which the status view may not show yet. Should the status not
    // load either, the signing's failure is still the one to tell.
    await show(number, 1).catch(() => {});
    loadHistory();
    throw error;
  }
  await show(number, accepted.version);
  loadHistory();
}

// --- step 3: the request's status ---

// Shows `number`'s status (as of `version` at least: the status view may not have caught up with
// a write just made) and follows it.
async function show(number, version) {
  const read = version ? `?min_version=${version}` : '';
  page.request = await json(`/api/v1/requests/${encodeURIComponent(number)}${read}`);
  $('status').hidden = false;
  renderStatus();
  $('status-title').scrollIntoView({ block: 'start' });
  // Each show follows anew: an earlier follow (of this request before it was signed, say) stops
  // at its next answer.
  const following = {};
  page.following = following;
  follow(number, () => (page.following === following ? page.request : null), (request) => {
    page.request = request;
    renderStatus();
    loadHistory();
  });
}

async function refresh() {
  if (!page.request) return;
  try {
    page.request = await json(`/api/v1/requests/${encodeURIComponent(page.request.number)}`);
    renderStatus();
  } catch (error) {
    failed(error);
  }
}

function renderStatus() {
  const request = page.request;
  if (!request) return;
  showStatus(request, page.services);
  $('open').hidden = !request.result_ready;
  $('save').hidden = !request.result_ready;
  // Signed on the portal by its applicant; at a service centre the operator signs.
  const unsigned = request.status.code === 'awaiting-signature' && request.channel === 'portal' && request.iin === page.iin;
  $('sign-again').hidden = !unsigned;
}

async function openDocument() {
  try { window.open(await documentPdf(page.request.number), '_blank', 'noopener'); } catch (error) { failed(error); }
}

async function saveDocument() {
  try { await savePdf(page.request.number); } catch (error) { failed(error); }
}

// --- history and who looked at my data ---

async function loadHistory() {
  try { page.history = (await json('/api/v1/requests?limit=50')).items; renderHistory(); } catch (error) { failed(error); }
}

function renderHistory() {
  const rows = page.history.map((request) => {
    const service = page.services.find((s) => s.code === request.service);
    const button = element('button', t('show'), { type: 'button', class: 'secondary', 'aria-label': `${t('show')} ${request.number}` });
    button.addEventListener('click', () => show(request.number).catch(failed));
    const cell = element('td');
    cell.append(button);
    const row = element('tr');
    row.append(element('td', request.number), element('td', service ? inLanguage(service.names) : request.service),
      element('td', inLanguage(request.status.text)), cell);
    return row;
  });
  $('history-rows').replaceChildren(...rows);
  $('history-empty').hidden = rows.length > 0;
}

async function loadAccess() {
  try { page.access = (await json('/api/v1/me/data-access?limit=50')).items; renderAccess(); } catch (error) { failed(error); }
}

function renderAccess() {
  const rows = page.access.map((read) => {
    const row = element('tr');
    row.append(
      element('td', localTime(read.at)),
      element('td', [read.reader, read.role, read.organisation].filter(Boolean).join(', ')),
      element('td', read.what),
      element('td', read.purpose ?? ''),
    );
    return row;
  });
  $('access-rows').replaceChildren(...rows);
  $('access-empty').hidden = rows.length > 0;
}

// --- start ---

async function start() {
  languageSwitch(redraw);
  $('signout').addEventListener('click', signOut);
  $('service').addEventListener('change', () => renderFormFields(page.services));
  $('file-form').addEventListener('submit', file);
  $('sign-again').addEventListener('click', signAgain);
  $('refresh').addEventListener('click', refresh);
  $('open').addEventListener('click', openDocument);
  $('save').addEventListener('click', saveDocument);
  await startSignIn({
    storage: 'token',
    devBody: () => ({ iin: $('dev-iin').value.trim() }),
    signIn,
    failed,
    redraw,
  });
}

start();
