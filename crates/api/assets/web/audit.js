// The auditor's view: a request's history as a timeline - each event with its time, type,
// actor and hash - and its verification state: the stream's hash chain checked by the server,
// and each event's inclusion proof in the log's Merkle tree checked here, in the browser,
// against the root of a signed tree head (RFC 9162, 2.1.3.2). Each look is recorded.

import {
  $, state, t, element, localTime, json, notify, translate, languageSwitch, unbase64,
  startSignIn, session, Problem,
} from './common.js';

const PURPOSE = { 'x-purpose': 'audit of the request history' };
// How often events not yet in a signed head are asked again, and for how long.
const AGAIN_MS = 3000;
const TRIES = 40;

const view = { auditor: null, stream: null, verify: null, proofs: new Map() };

function redraw() {
  document.title = t('auditTitle');
  if (view.auditor) $('who').textContent = `${t('auditor')} ${view.auditor}`;
  renderTimeline();
}

const { signIn, signOut, failed } = session({
  storage: 'audit-token',
  sections: ['lookup'],
  later: ['timeline'],
  enter(auditor) {
    view.auditor = auditor;
    translate(redraw);
    $('number').focus();
  },
  leave: () => Object.assign(view, { auditor: null, stream: null, verify: null, proofs: new Map() }),
});

// --- the Merkle proof, checked here ---

async function sha256(...parts) {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { bytes.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

const NODE = Uint8Array.of(1);

// RFC 9162, 2.1.3.2: whether `proof` leads from the leaf at `index` to `root` in a tree of `size`.
async function included({ index, size, leaf, proof, root }) {
  let fn = index;
  let sn = size - 1;
  let r = unbase64(leaf);
  for (const p of proof.map(unbase64)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(NODE, p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(NODE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  const expected = unbase64(root);
  return sn === 0 && r.length === expected.length && r.every((b, i) => b === expected[i]);
}

// --- the history ---

async function lookUp(event) {
  event.preventDefault();
  notify(null);
  const number = $('number').value.trim();
  try {
    const [stream, verify] = await Promise.all([
      json(`/api/v1/audit/requests/${encodeURIComponent(number)}/events`, { headers: PURPOSE }),
      json(`/api/v1/audit/verify?request=${encodeURIComponent(number)}`, { headers: PURPOSE }),
    ]);
    Object.assign(view, { stream, verify, proofs: new Map() });
    $('timeline').hidden = false;
    renderTimeline();
    prove(stream.stream_id);
  } catch (error) {
    failed(error);
  }
}

// Asks each event's inclusion proof until every one is in a signed head (or the tries end).
async function prove(streamId) {
  for (let tries = 0; tries < TRIES && view.stream?.stream_id === streamId; tries++) {
    const waiting = view.stream.events.filter((e) => view.proofs.get(e.event_id)?.checked === undefined);
    if (waiting.length === 0) return;
    for (const event of waiting) {
      try {
        const proof = await json(`/api/v1/log/proof/inclusion?event=${event.event_id}`);
        view.proofs.set(event.event_id, { ...proof, checked: await included(proof) });
      } catch (error) {
        if (!(error instanceof Problem && error.status === 409)) { failed(error); return; }
      }
    }
    renderTimeline();
    await new Promise((resolve) => { setTimeout(resolve, AGAIN_MS); });
  }
}

function renderTimeline() {
  const { stream, verify } = view;
  if (!stream) return;
  const broken = new Set((verify?.breaks ?? []).map((b) => b.event_id));
  $('chain').textContent = verify?.intact ? t('chainIntact') : t('chainBroken');
  $('chain').className = verify?.intact ? 'passed' : 'failed';
  const proven = stream.events.filter((e) => view.proofs.get(e.event_id)?.checked === true).length;
  $('log-state').textContent = `${t('inSignedHeads')}: ${proven} / ${stream.events.length}`;
  $('events').replaceChildren(...stream.events.map((event) => {
    const item = element('li', undefined, { 'data-event': event.event_id });
    const proof = view.proofs.get(event.event_id);
    const chain = broken.has(event.event_id)
      ? element('span', t('chainAltered'), { class: 'failed' })
      : element('span', t('chainLinked'), { class: 'passed' });
    let log;
    if (proof?.checked === true) log = element('span', `${t('provenInHead')} ${proof.size} (${t('leaf')} ${proof.index})`, { class: 'passed proven' });
    else if (proof?.checked === false) log = element('span', t('proofFails'), { class: 'failed' });
    else log = element('span', t('waitingForHead'), { class: 'hint' });
    const payload = element('details');
    payload.append(element('summary', t('eventData')), element('pre', JSON.stringify(event.payload, null, 2)));
    item.append(
      element('strong', `${event.stream_version}. ${event.event_type}`),
      element('div', `${localTime(event.recorded_at)} · ${event.actor} · ${event.channel}`, { class: 'hint' }),
      element('div', `${t('hash')}: ${event.hash}`, { class: 'hash' }),
      element('div', `${t('previousHash')}: ${event.previous_hash}`, { class: 'hash' }),
      chain,
      element('span', ' · '),
      log,
      payload,
    );
    return item;
  }));
}

async function start() {
  languageSwitch(redraw);
  $('signout').addEventListener('click', signOut);
  $('lookup-form').addEventListener('submit', lookUp);
  await startSignIn({
    storage: 'audit-token',
    devBody: () => ({ iin: $('dev-iin').value.trim(), role: 'auditor' }),
    signIn,
    failed,
    redraw,
  });
}

start();
