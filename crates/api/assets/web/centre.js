// The service centre's desk: the operator identifies the person at the desk (and whom they
// represent, with the power of attorney), sees the GBD FL and ENIS checks answer, uploads the
// scans (drag and drop, or a file chosen with the keyboard), signs with the operator's own EDS,
// follows the request, prints its result or refusal and records the handout. Operators read a
// citizen's request only with a purpose, which the server records.

import {
  $, t, inLanguage, unbase64, base64, element, api, json, notify,
  translate, languageSwitch, sign, documentPdf, savePdf, follow, servicesFor,
  renderServiceForm, renderFormFields, formValues, startSignIn, session, renderStatus as showStatus,
} from './common.js';

// Why the desk reads the request (sent as X-Purpose; recorded with every read).
const PURPOSE = { 'x-purpose': 'serving the applicant at the service centre desk' };

const desk = {
  operator: null,
  services: [],
  filed: null, // the filing's answer: number, checks, refusal
  notarised: true,
  scans: [], // [{kind, size}]
  documentToSign: null,
  request: null, // the status answer
};

function redraw() {
  document.title = t('deskTitle');
  if (desk.operator) $('who').textContent = `${t('operator')} ${desk.operator}`;
  renderServices();
  renderChecks();
  renderScans();
  renderStatus();
}

// --- signing in ---

const { signIn, signOut, failed } = session({
  storage: 'desk-token',
  sections: ['person'],
  later: ['checks', 'scans', 'status'],
  async enter(operator) {
    desk.operator = operator;
    translate(redraw);
    // Before the load: focus moved once it ends would pull it from where the operator went meanwhile.
    $('main').focus();
    desk.services = await servicesFor('service-centre');
    renderServices();
  },
  leave: () => Object.assign(desk, { operator: null, filed: null, scans: [], request: null }),
});

// --- the person at the desk ---

function renderServices() {
  renderServiceForm(desk.services);
}

function filing() {
  const value = (id) => $(id).value.trim();
  const body = {
    service: $('service').value,
    applicant: {
      iin: value('p-iin'),
      surname: value('p-surname'),
      given_name: value('p-given'),
      patronymic: value('p-patronymic') || null,
      identity_document: { kind: $('p-doc-kind').value, number: value('p-doc-number') },
    },
    form: formValues(),
  };
  if ($('represents').checked) {
    body.represented_iin = value('r-iin');
    body.power_of_attorney = { number: value('poa-number'), date: value('poa-date'), notarised: $('poa-notarised').checked };
  }
  return body;
}

async function file(event) {
  event.preventDefault();
  notify(null);
  const button = $('file-button');
  button.disabled = true;
  try {
    const body = filing();
    desk.filed = await json('/api/v1/centre/requests', {
      method: 'POST', headers: { 'idempotency-key': crypto.randomUUID() }, body,
    });
    desk.notarised = body.power_of_attorney?.notarised ?? true;
    Object.assign(desk, { scans: [], documentToSign: null, request: null });
    $('checks').hidden = false;
    $('scans').hidden = desk.filed.stage === 'refused';
    $('status').hidden = true;
    renderChecks();
    renderScans();
    if (desk.filed.stage === 'refused') await show(desk.filed.number, desk.filed.version);
    $('checks-title').scrollIntoView({ block: 'start' });
  } catch (error) {
    failed(error);
  } finally {
    button.disabled = false;
  }
}

function renderChecks() {
  const filed = desk.filed;
  if (!filed) return;
  $('c-number').textContent = filed.number;
  $('check-list').replaceChildren(...filed.checks.map((check) => {
    const item = element('li');
    item.append(element('span', `${t(`check:${check.check}`)}: `), element('strong', t(`outcome:${check.outcome}`), { class: check.outcome }));
    return item;
  }));
  $('c-refusal').hidden = !filed.refusal;
  $('c-refusal').textContent = filed.refusal ? `${t('refusal')}: ${inLanguage(filed.refusal.text)}` : '';
}

// --- scans and the operator's signature ---

async function upload(file) {
  notify(null);
  try {
    const kind = $('scan-kind').value;
    const scanned = await json(`/api/v1/centre/requests/${desk.filed.number}/documents/${kind}`, {
      method: 'PUT', body: file, raw: true, headers: { 'content-type': file.type || 'application/octet-stream' },
    });
    desk.scans.push({ kind, name: file.name, size: scanned.size });
    desk.documentToSign = scanned.document_to_sign;
    renderScans();
  } catch (error) {
    failed(error);
  }
}

function renderScans() {
  $('scan-list').replaceChildren(...desk.scans.map((scan) => element('li', `${t(`scan:${scan.kind}`)}: ${scan.name} (${scan.size} B)`)));
  $('sign').disabled = !desk.documentToSign;
  $('attest').hidden = desk.notarised || !desk.scans.some((s) => s.kind === 'power-of-attorney');
}

async function attest() {
  try {
    await api(`/api/v1/centre/requests/${desk.filed.number}/power-of-attorney/attestation`, { method: 'POST' });
    desk.notarised = true;
    renderScans();
  } catch (error) {
    failed(error);
  }
}

async function signAsOperator() {
  notify(null);
  $('sign').disabled = true;
  try {
    const cms = await sign(unbase64(desk.documentToSign), desk.documentToSign);
    const signed = await json(`/api/v1/centre/requests/${desk.filed.number}/signature`, { method: 'POST', body: { cms: base64(cms) } });
    $('scans').hidden = true;
    await show(desk.filed.number, signed.version);
  } catch (error) {
    failed(error);
    $('sign').disabled = false;
  }
}

// --- the request, its document and the handout ---

// Shows `number`'s status as of `version` at least (read your write) and follows it.
async function show(number, version) {
  desk.request = await json(`/api/v1/requests/${encodeURIComponent(number)}?min_version=${version}`, { headers: PURPOSE });
  $('status').hidden = false;
  $('handed').hidden = true;
  renderStatus();
  follow(number, () => desk.request, (request) => { desk.request = request; renderStatus(); }, PURPOSE);
}

function renderStatus() {
  const request = desk.request;
  if (!request) return;
  showStatus(request, desk.services);
  for (const id of ['print', 'save', 'handout']) $(id).hidden = !request.result_ready;
}

async function print() {
  try { window.open(await documentPdf(desk.request.number, PURPOSE), '_blank', 'noopener'); } catch (error) { failed(error); }
}

async function handOut() {
  try {
    const handed = await json(`/api/v1/centre/requests/${desk.request.number}/handout`, { method: 'POST' });
    $('handed').textContent = `${t('handedOut')} ${handed.document_number}`;
    $('handed').hidden = false;
  } catch (error) {
    failed(error);
  }
}

// --- start ---

function dropZone() {
  const zone = $('drop');
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    for (const dropped of event.dataTransfer.files) upload(dropped);
  });
  $('scan-file').addEventListener('change', (event) => {
    for (const chosen of event.target.files) upload(chosen);
    event.target.value = '';
  });
}

async function start() {
  languageSwitch(redraw);
  dropZone();
  $('signout').addEventListener('click', signOut);
  $('service').addEventListener('change', () => renderFormFields(desk.services));
  $('represents').addEventListener('change', (event) => { $('representation').hidden = !event.target.checked; });
  $('person-form').addEventListener('submit', file);
  $('attest').addEventListener('click', attest);
  $('sign').addEventListener('click', signAsOperator);
  $('print').addEventListener('click', print);
  $('save').addEventListener('click', () => savePdf(desk.request.number, PURPOSE).catch(failed));
  $('handout').addEventListener('click', handOut);
  await startSignIn({
    storage: 'desk-token',
    devBody: () => ({ iin: $('dev-iin').value.trim(), role: 'operator', centre: $('dev-centre').value.trim() }),
    signIn,
    failed,
    redraw,
  });
}

start();
