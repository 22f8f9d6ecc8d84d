// What the pages share: the API with the bearer token, problems shown in the page's language,
// the language switch, and signing - with NCALayer in production, with a browser key the
// development CA certifies in development mode.

import { WORDS } from './i18n.js';
import { signedData } from './cms.js';

export const $ = (id) => document.getElementById(id);

export const state = {
  lang: ['ru', 'kk', 'en'].includes(localStorage.getItem('lang')) ? localStorage.getItem('lang') : 'ru',
  token: null,
  development: false,
  signer: null, // development mode: the browser's key and its certificate
};

export const t = (key) => WORDS[state.lang][key] ?? key;
export const inLanguage = (texts) => (texts && (texts[state.lang] ?? texts.ru)) || '';
export const base64 = (bytes) => btoa(String.fromCharCode(...bytes));
export const unbase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

export function localTime(iso) {
  if (!iso) return '-';
  return new Date(iso).toLocaleString(state.lang === 'kk' ? 'kk-KZ' : state.lang, { timeZone: 'Asia/Almaty' });
}

// --- the API ---

export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, { method = 'GET', body, accept, headers = {}, raw } = {}) {
  const sent = { ...headers };
  if (state.token) sent.authorization = `Bearer ${state.token}`;
  if (body !== undefined && !raw) sent['content-type'] = 'application/json';
  if (accept) sent.accept = accept;
  const payload = body === undefined ? undefined : (raw ? body : JSON.stringify(body));
  const response = await fetch(path, { method, headers: sent, body: payload });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    throw new Problem(response.status, problem);
  }
  return response;
}

export const json = async (path, options) => (await api(path, options)).json();

// Shows `error` (a problem in the page's language) or, with nothing, clears the notice.
export function notify(error) {
  const notice = $('notice');
  if (!error) { notice.hidden = true; notice.textContent = ''; return; }
  notice.textContent = error.body?.texts ? inLanguage(error.body.texts) : (error.text ?? String(error.message));
  notice.hidden = false;
}

// The token's subject (an IIN), read without checking: the server checks it.
export function subjectOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sub ?? null;
  } catch {
    return null;
  }
}

// --- the service and its form ---

// The services of the catalog filed through `channel` (`portal` or `service-centre`).
export async function servicesFor(channel) {
  const catalog = await json('/api/v1/services');
  return catalog.filter((s) => s.channels.includes(channel));
}

// Fills `#service` with `services` in the page's language (keeping the choice) and `#fields`
// with the chosen service's form.
export function renderServiceForm(services) {
  const select = $('service');
  const chosen = select.value;
  select.replaceChildren(...services.map((s) => element('option', inLanguage(s.names), { value: s.code })));
  if (chosen) select.value = chosen;
  renderFormFields(services);
}

// Fills `#fields` with the form of the service `#service` names (keeping what was typed).
export function renderFormFields(services) {
  const service = services.find((s) => s.code === $('service').value);
  const kept = Object.fromEntries([...$('fields').querySelectorAll('input')].map((i) => [i.name, i.value]));
  const fields = (service?.form ?? []).flatMap((field) => {
    const id = `field-${field.key}`;
    const label = element('label', inLanguage(field.label) + (field.required ? ` (${t('required')})` : ''), { for: id });
    const input = element('input', undefined, { id, name: field.key, type: field.kind === 'date' ? 'date' : 'text' });
    if (field.kind === 'iin') Object.assign(input, { inputMode: 'numeric', maxLength: 12 });
    input.required = field.required;
    input.value = kept[field.key] ?? '';
    return [label, input];
  });
  $('fields').replaceChildren(...fields);
}

// The form's values as the API takes them: the filled fields only.
export function formValues() {
  const form = {};
  for (const input of $('fields').querySelectorAll('input')) if (input.value) form[input.name] = input.value;
  return form;
}

// --- language ---

// Puts the page's words in the chosen language, then lets the page redraw what it made.
export function translate(redraw) {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  $('lang').value = state.lang;
  redraw();
}

export function languageSwitch(redraw) {
  $('lang').addEventListener('change', (event) => {
    state.lang = event.target.value;
    localStorage.setItem('lang', state.lang);
    translate(redraw);
  });
}

// Development mode's stand-ins, when they are here (their routes exist only in development):
// `{mode, citizens}`, the synthetic citizens to pick from; otherwise null.
export async function development() {
  const answer = await fetch('/api/v1/dev').catch(() => null);
  state.development = answer?.ok === true;
  return state.development ? answer.json() : null;
}

// --- signing in ---

// A page's session in this tab: the token kept under `storage`, the sections shown once signed in
// (`later`: the ones the page shows as it goes; all are hidden on signing out), and what the page
// adds: `enter` with the token's subject, `leave`. Gives the page its signIn, signOut and failed
// (which shows the error, and signs out when the server no longer takes the token).
export function session({ storage, sections, later = [], enter, leave }) {
  const pageSession = {
    async signIn(token) {
      state.token = token;
      sessionStorage.setItem(storage, token);
      $('signin').hidden = true;
      for (const id of [...sections, 'who', 'signout']) $(id).hidden = false;
      await enter(subjectOf(token));
    },
    signOut() {
      Object.assign(state, { token: null, signer: null });
      sessionStorage.removeItem(storage);
      for (const id of [...sections, ...later, 'who', 'signout']) $(id).hidden = true;
      $('signin').hidden = false;
      leave();
    },
    failed(error) {
      notify(error);
      if (error.status === 401) pageSession.signOut();
    },
  };
  return pageSession;
}

// Step 3 of the regulations for `request` (a status answer; `services` name its service): IIN,
// number, service, status, deadline, and the refusal's reason when refused.
export function renderStatus(request, services) {
  const service = services.find((s) => s.code === request.service);
  $('s-iin').textContent = request.iin;
  $('s-number').textContent = request.number;
  $('s-service').textContent = service ? inLanguage(service.names) : request.service;
  $('s-status').textContent = inLanguage(request.status.text);
  $('s-deadline').textContent = localTime(request.deadline);
  const refused = Boolean(request.refusal);
  $('s-refusal-term').hidden = !refused;
  $('s-refusal').hidden = !refused;
  $('s-refusal').textContent = refused ? inLanguage(request.refusal.text) : '';
}

// Wires the sign-in forms - the token the portal (or the centres' sign-in) hands over, and in
// development mode a test person's token for `devBody()` - then signs in with the token kept
// under `storage` in this tab, if any.
export async function startSignIn({ storage, devBody, signIn, failed, redraw }) {
  $('signin-token').addEventListener('submit', (event) => {
    event.preventDefault();
    signIn($('token').value.trim()).catch(failed);
  });
  $('signin-dev').addEventListener('submit', async (event) => {
    event.preventDefault();
    notify(null);
    try {
      await signIn((await json('/api/v1/dev/token', { method: 'POST', body: devBody() })).token);
    } catch (error) {
      failed(error);
    }
  });
  const standIns = await development();
  $('signin-dev').hidden = !standIns;
  // Pick a test citizen: the registries' synthetic citizens, offered as the IIN is typed.
  $('test-citizens')?.replaceChildren(...(standIns?.citizens ?? []).map((c) => element('option', c.name, { value: c.iin })));
  translate(redraw);
  const kept = sessionStorage.getItem(storage);
  if (kept) await signIn(kept).catch(failed);
  else $('signin').hidden = false;
}

// --- signing ---

// The CMS over `document` (bytes; `documentBase64` is the same in base64): in development with
// a key of this browser certified by the development CA for the signed-in person's IIN;
// otherwise by NCALayer with the person's EDS.
export async function sign(document, documentBase64) {
  if (!state.development) return ncalayer(documentBase64);
  if (!state.signer) {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
    const issued = await json('/api/v1/dev/certificate', { method: 'POST', body: { public_key: base64(spki) } });
    state.signer = { key: keys.privateKey, certificate: unbase64(issued.certificate) };
  }
  return signedData(document, state.signer.key, state.signer.certificate);
}

// NCALayer's local WebSocket, as the national portal uses it: a CAdES-BES (attached) over the
// document with the signing key the person picks.
function ncalayer(documentBase64) {
  return new Promise((resolve, reject) => {
    const failed = () => reject(Object.assign(new Error('NCALayer'), { text: t('ncalayerMissing') }));
    let socket;
    try { socket = new WebSocket('wss://127.0.0.1:13579/'); } catch { failed(); return; }
    socket.onerror = failed;
    // Closed before it answered (NCALayer stopped, or the person closed its window): a promise
    // settles once, so this is a no-op after an answer.
    socket.onclose = failed;
    socket.onopen = () => socket.send(JSON.stringify({
      module: 'kz.gov.pki.knca.commonUtils',
      method: 'createCAdESFromBase64',
      args: ['PKCS12', 'SIGNATURE', documentBase64, true],
    }));
    socket.onmessage = (message) => {
      const answer = JSON.parse(message.data);
      if (answer.result?.version) return; // the greeting
      socket.close();
      if (String(answer.code) === '200' && answer.responseObject) resolve(unbase64(answer.responseObject));
      else reject(Object.assign(new Error('NCALayer'), { text: answer.message || t('ncalayerMissing') }));
    };
  });
}

// --- documents ---

// An object URL of the request's result or refusal document as a PDF.
export async function documentPdf(number, headers = {}) {
  const response = await api(`/api/v1/requests/${encodeURIComponent(number)}/result`, { accept: 'application/pdf', headers });
  return URL.createObjectURL(await response.blob());
}

export async function savePdf(number, headers = {}) {
  const link = element('a', undefined, { href: await documentPdf(number, headers), download: `${number}.pdf` });
  document.body.append(link);
  link.click();
  link.remove();
}

export const ENDED = new Set(['completed', 'refused', 'abandoned']);

// Whether a request may still change: open, or ended with its document not issued yet.
export function moving(request) {
  const code = request.status.code;
  return !ENDED.has(code) || (!request.result_ready && code !== 'abandoned');
}

// Long polls `number`'s status while `current()` still shows it and it may change, calling
// `update` with each new answer: the page updates by itself.
export async function follow(number, current, update, headers = {}) {
  let etag = null;
  let request = current();
  while (request?.number === number && moving(request)) {
    try {
      const response = await api(`/api/v1/requests/${encodeURIComponent(number)}?wait=25`, {
        headers: etag ? { ...headers, 'if-none-match': etag } : headers,
      });
      etag = response.headers.get('etag');
      if (current()?.number !== number) return;
      request = await response.json();
      update(request);
    } catch (error) {
      if (error.status !== 304) { notify(error); return; }
    }
    request = current();
  }
}
