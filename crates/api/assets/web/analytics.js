// The analyst's view: the analytics views (no personal data) as charts per day - requests by
// outcome, refusals by reason, the share completed within the promised deadline, and the
// survey's quality indicators - for one service or all, each chart with its numbers as a table
// for those who would rather read (and for screen readers). Drawn with uPlot (vendored).

import {
  $, t, inLanguage, element, json, notify, translate, languageSwitch, startSignIn, servicesFor,
  session,
} from './common.js';

const COLOURS = ['#0b4f8a', '#a40000', '#1d7a2a', '#8a5a00', '#6a1b9a', '#00695c', '#4a4a4a'];
const DAY = 86_400;

const view = { analyst: null, services: [], charts: [] };

function redraw() {
  document.title = t('analyticsTitle');
  if (view.analyst) $('who').textContent = `${t('analyst')} ${view.analyst}`;
  const select = $('service');
  const chosen = select.value;
  select.replaceChildren(element('option', t('allServices'), { value: '' }),
    ...view.services.map((s) => element('option', inLanguage(s.names), { value: s.code })));
  select.value = chosen;
  if (view.charts.length) draw(view.charts);
}

const { signIn, signOut, failed } = session({
  storage: 'analytics-token',
  sections: ['filters'],
  later: ['charts'],
  enter: signedIn,
  leave: () => Object.assign(view, { analyst: null, charts: [] }),
});

async function signedIn(analyst) {
  view.analyst = analyst;
  view.services = [...await servicesFor('portal'), ...await servicesFor('service-centre')]
    .filter((s, i, all) => all.findIndex((o) => o.code === s.code) === i);
  const today = new Date();
  $('to').value = localDate(today);
  $('from').value = localDate(new Date(today.getTime() - 30 * DAY * 1000));
  translate(redraw);
}

// The date (YYYY-MM-DD) of instant `at` in Kazakhstan (Asia/Almaty), the days the analytics
// views count in: not the browser's nor UTC's, which from 19:00 UTC is still the day before.
function localDate(at) {
  const format = new Intl.DateTimeFormat('en', {
    timeZone: 'Asia/Almaty', year: 'numeric', month: '2-digit', day: '2-digit',
  });
  const part = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return `${part.year}-${part.month}-${part.day}`;
}

// --- the numbers ---

// Every day from `from` to `to` (YYYY-MM-DD), at most a year of them.
function daysBetween(from, to) {
  const days = [];
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= Date.parse(`${to}T00:00:00Z`) && days.length <= 366; at += DAY * 1000) {
    days.push(new Date(at).toISOString().slice(0, 10));
  }
  return days;
}

// Sums `value(row)` per day of `days` and per `key(row)`: {days, keys, values[key][dayIndex]}
// (0 on a day without rows: nothing happened).
function byDay(days, rows, key, value) {
  const keys = [...new Set(rows.map(key))].sort();
  const values = Object.fromEntries(keys.map((k) => [k, days.map(() => 0)]));
  for (const row of rows) {
    const i = days.indexOf(row.day);
    if (i >= 0) values[key(row)][i] += Number(value(row) ?? 0);
  }
  return { days, keys, values, any: rows.length > 0 };
}

// A share per day: the sum of `part` over the sum of `whole` (none where the whole is 0).
function share(days, rows, parts, whole) {
  const total = byDay(days, rows, () => 'all', (r) => r[whole]).values.all ?? days.map(() => 0);
  const values = Object.fromEntries(parts.map((p) => {
    const sums = byDay(days, rows, () => p, (r) => r[p]).values[p] ?? days.map(() => 0);
    return [p, days.map((_, i) => (total[i] ? sums[i] / total[i] : null))];
  }));
  return { days, keys: parts, values, any: rows.length > 0 };
}

async function load(event) {
  event?.preventDefault();
  notify(null);
  const query = new URLSearchParams({ from: $('from').value, to: $('to').value });
  if ($('service').value) query.set('service', $('service').value);
  try {
    const [requests, refusals, deadlines, survey] = await Promise.all(
      ['requests', 'refusals', 'deadlines', 'survey'].map((v) => json(`/api/v1/analytics/${v}?${query}`)),
    );
    const days = daysBetween($('from').value, $('to').value);
    view.charts = [
      { id: 'requests', title: 'chartRequests', data: byDay(days, requests, (r) => r.outcome, (r) => r.requests), label: (k) => t(`outcome:${k}`) },
      { id: 'refusals', title: 'chartRefusals', data: byDay(days, refusals, (r) => r.refusal_reason, (r) => r.refusals), label: (k) => k },
      { id: 'deadlines', title: 'chartDeadlines', data: share(days, deadlines, ['completed_within'], 'ended_with_deadline'), label: () => t('withinDeadline'), percent: true },
      { id: 'survey', title: 'chartSurvey', data: share(days, survey, ['quality_satisfied', 'information_satisfied'], 'answers'), label: (k) => t(`indicator:${k}`), percent: true },
    ];
    $('charts').hidden = false;
    draw(view.charts);
  } catch (error) {
    failed(error);
  }
}

// --- the pictures ---

function draw(charts) {
  $('figures').replaceChildren(...charts.map((chart) => figure(chart)));
}

function figure({ id, title, data, label, percent }) {
  const shown = (v) => (v === null ? '-' : percent ? `${Math.round(v * 100)}%` : String(v));
  const box = element('figure', undefined, { id: `chart-${id}` });
  const caption = element('figcaption', t(title), { id: `caption-${id}` });
  const plot = element('div', undefined, { role: 'img', 'aria-labelledby': `caption-${id}`, class: 'plot' });
  const table = element('table');
  const head = element('tr');
  head.append(element('th', t('day'), { scope: 'col' }), ...data.keys.map((k) => element('th', label(k), { scope: 'col' })));
  // The table lists the days something happened on; the chart shows every day.
  const happened = data.days.map((_, i) => i).filter((i) => data.keys.some((k) => data.values[k][i]));
  table.append(head, ...happened.map((i) => {
    const row = element('tr');
    row.append(element('th', data.days[i], { scope: 'row' }), ...data.keys.map((k) => element('td', shown(data.values[k][i]))));
    return row;
  }));
  const details = element('details');
  details.append(element('summary', t('asTable')), table);
  if (!data.any) {
    box.append(caption, element('p', t('noData')));
    return box;
  }
  box.append(caption, plot, details);
  const xs = data.days.map((d) => Date.parse(`${d}T00:00:00+05:00`) / 1000);
  const series = [{ label: t('day') }, ...data.keys.map((k, i) => ({
    label: label(k),
    stroke: COLOURS[i % COLOURS.length],
    width: 2,
    points: { show: true, size: 7 },
    value: (_, v) => (v == null ? '-' : shown(v)),
  }))];
  requestAnimationFrame(() => {
    // The vendored uPlot (a classic script) puts itself on window.
    const width = Math.max(320, plot.clientWidth || 640);
    const y = percent ? { range: [0, 1] } : { range: (_, min, max) => [0, Math.max(1, max)] };
    const options = { width, height: 240, series, scales: { x: { time: true }, y }, axes: [{}, { values: (_, ticks) => ticks.map(shown) }] };
    // eslint-disable-next-line no-new, new-cap
    new window.uPlot(options, [xs, ...data.keys.map((k) => data.values[k])], plot);
  });
  return box;
}

async function start() {
  languageSwitch(redraw);
  $('signout').addEventListener('click', signOut);
  $('filters-form').addEventListener('submit', load);
  await startSignIn({
    storage: 'analytics-token',
    devBody: () => ({ iin: $('dev-iin').value.trim(), role: 'analyst' }),
    signIn,
    failed,
    redraw,
  });
}

start();
