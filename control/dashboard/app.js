// mailgate dashboard: a read-only view of the control plane's API.
//
// The API token is kept in sessionStorage and sent as a bearer header with
// every fetch(). Every value from the API is written with textContent (never
// innerHTML): HELO names, SNI and user names come from the wire.
'use strict';

const TOKEN_KEY = 'mailgate.token';
const REFRESH_MS = 5000;
let refreshTimer = null;
let generation = 0;

class Unauthorized extends Error {}

function $(id) {
  return document.getElementById(id);
}

// An element with attributes and children (strings become text nodes).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function text(value) {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}

function pct(share) {
  return (100 * (share || 0)).toFixed(1) + ' %';
}

function hostLink(ip) {
  return el('a', { href: '#/host/' + encodeURIComponent(ip), class: 'host' }, ip);
}

// A table: columns are [heading, row => cell] pairs; a cell is text or a node.
function table(id, columns, rows, empty) {
  if (!rows.length) return el('p', { id, class: 'empty' }, empty || 'Nothing yet.');
  return el(
    'table',
    { id },
    el('thead', {}, el('tr', {}, columns.map(([heading]) => el('th', {}, heading)))),
    el('tbody', {}, rows.map((row) => el('tr', {}, columns.map(([, cell]) => el('td', {}, cell(row)))))),
  );
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY) } });
  if (response.status === 401) throw new Unauthorized('the token was refused');
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.error) || response.status + ' ' + response.statusText);
  return body;
}

function actionClass(action) {
  if (action === 'drop' || action === 'reset') return 'blocked';
  if (action === 'would_drop' || action === 'would_reset') return 'would-block';
  if (action === 'alert') return 'alerted';
  return 'passed';
}

function sessionName(s) {
  return (s.tls && s.tls.sni) || (s.smtp && s.smtp.helo) || null;
}

function sessionColumns(withSource) {
  const columns = [
    ['Time', (s) => text(s.ts)],
    ['Gateway', (s) => text(s.gateway)],
  ];
  if (withSource) columns.push(['Source', (s) => hostLink(s.src_ip)]);
  columns.push(
    ['Destination', (s) => s.dest_ip + ':' + s.dest_port],
    ['Protocol', (s) => text(s.mail_proto)],
    ['Action', (s) => el('span', { class: 'action ' + actionClass(s.verdict.action) }, s.verdict.action)],
    ['Rule', (s) => text(s.verdict.rule)],
    ['Reason', (s) => text(s.verdict.reason)],
    ['Name', (s) => text(sessionName(s))],
    ['Process', (s) => text(s.endpoint && s.endpoint.process)],
  );
  return columns;
}

function card(id, label, value) {
  return el('div', { class: 'card' }, el('div', { class: 'value', id }, String(value)), el('div', { class: 'label' }, label));
}

function sum(counts, actions) {
  return actions.reduce((n, a) => n + (counts[a] || 0), 0);
}

async function overview(view) {
  const o = await api('/api/v1/overview');
  const day = o.sessions.last_24h;
  const policy = o.policy ? 'v' + o.policy.version + ' (' + o.policy.mode + ')' : 'none';
  view.replaceChildren(
    el('h1', {}, 'Overview'),
    el(
      'div',
      { class: 'cards', id: 'counters' },
      card('count-sessions', 'sessions stored', o.sessions.total),
      card('count-24h', 'sessions, last 24 h', sum(day, Object.keys(day))),
      card('count-blocked', 'blocked, last 24 h', sum(day, ['drop', 'reset'])),
      card('count-would-block', 'would block, last 24 h', sum(day, ['would_drop', 'would_reset'])),
      card('count-alerted', 'alerted, last 24 h', sum(day, ['alert'])),
      card('count-gateways', 'gateways reporting', o.gateways.alive + ' / ' + o.gateways.total),
      card('count-alerts', 'control-plane alerts', o.alerts.total),
      card('count-endpoint', 'endpoint events', o.endpoint_events),
      card('count-policy', 'policy', policy),
    ),
    el('h2', {}, 'Recent blocked sessions'),
    table('blocked', sessionColumns(true), o.blocked, 'No blocked session.'),
    el('h2', {}, 'Recent alerted sessions'),
    table('alerted', sessionColumns(true), o.alerted, 'No alerted session.'),
    el('h2', {}, 'Control-plane alerts'),
    table(
      'alerts',
      [
        ['Kind', (a) => a.kind],
        ['Last raised', (a) => a.last_raised],
        ['Source', (a) => (a.record.src_ip ? hostLink(a.record.src_ip) : '-')],
        ['Destination', (a) => text(a.record.dest_ip) + ':' + text(a.record.dest_port)],
        ['Detail', (a) => alertDetail(a)],
      ],
      o.alerts.recent,
      'No alert.',
    ),
  );
  scheduleRefresh();
}

function alertDetail(a) {
  const r = a.record;
  if (a.kind === 'periodic_mail_sessions') {
    return r.sessions + ' sessions every ' + Math.round(r.mean_interval_secs) + ' s, score ' + r.score.toFixed(2);
  }
  if (a.kind === 'unexpected_mail_process') {
    return r.process + ' (approved: ' + r.approved.join(', ') + ')';
  }
  return JSON.stringify(r);
}

async function inventory(view) {
  const inv = await api('/api/v1/inventory');
  const status = (p) => {
    if (!p.policy) return el('span', { class: 'status unknown' }, inv.policy_version ? 'not mail' : 'no policy');
    return p.policy.admitted
      ? el('span', { class: 'status approved' }, 'approved')
      : el('span', { class: 'status unapproved' }, 'UNAPPROVED');
  };
  const approved = inv.paths.filter((p) => p.policy && p.policy.admitted).length;
  view.replaceChildren(
    el('h1', {}, 'Mail paths'),
    el(
      'p',
      { id: 'inventory-summary' },
      inv.paths.length + ' paths, ' + approved + ' approved by policy version ' + text(inv.policy_version),
    ),
    table(
      'inventory',
      [
        ['Source', (p) => hostLink(p.src_ip)],
        ['Protocol', (p) => text(p.mail_proto)],
        ['Destination', (p) => p.dest_ip + ':' + p.dest_port],
        ['Sessions', (p) => p.sessions],
        ['Bytes', (p) => p.bytes],
        ['TLS', (p) => pct(p.tls_share)],
        ['SNI', (p) => text(p.sni.join(', '))],
        ['HELO', (p) => text(p.helo.join(', '))],
        ['Status', status],
        ['Rule', (p) => text(p.policy && p.policy.rule)],
        ['Last seen', (p) => p.last_seen],
      ],
      inv.paths,
      'No mail path seen yet.',
    ),
  );
}

function histogram(bins) {
  return el(
    'div',
    { class: 'histogram' },
    bins.map((b) =>
      el(
        'div',
        { class: 'bin', title: b.label + ': ' + b.count },
        el('div', { class: 'bar', 'data-count': b.count }),
        el('div', { class: 'bin-label' }, b.label),
      ),
    ),
  );
}

function sizeBars(root) {
  // Heights are set through the CSSOM (allowed by the style-src policy), not inline style attributes.
  for (const bar of root.querySelectorAll('.bar')) {
    const bins = bar.closest('.histogram').querySelectorAll('.bar');
    const max = Math.max(1, ...Array.from(bins, (b) => Number(b.dataset.count)));
    bar.style.height = Math.round((40 * Number(bar.dataset.count)) / max) + 'px';
  }
}

async function host(view, ip) {
  const form = el(
    'form',
    { id: 'host-form' },
    el('label', { for: 'host-ip' }, 'Host address '),
    el('input', { id: 'host-ip', name: 'ip', value: ip || '', placeholder: '10.0.0.5', required: true }),
    el('button', { type: 'submit' }, 'Investigate'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = '#/host/' + encodeURIComponent($('host-ip').value.trim());
  });
  if (!ip) {
    view.replaceChildren(el('h1', {}, 'Host triage'), form);
    return;
  }
  const h = await api('/api/v1/hosts/' + encodeURIComponent(ip) + '?limit=200');
  const endpoint = h.endpoint.events
    ? h.endpoint.events + ' endpoint events (' + h.endpoint.sources.join(', ') + '), host names ' +
      text(h.endpoint.host_names.join(', ')) + ', ' + h.endpoint.attributed_sessions + ' sessions attributed'
    : 'no endpoint telemetry (unmanaged?)';
  view.replaceChildren(
    el('h1', {}, 'Host ' + h.host),
    form,
    el(
      'dl',
      { id: 'host-summary' },
      el('dt', {}, 'Sessions'),
      el('dd', { id: 'host-sessions-count' }, h.sessions),
      el('dt', {}, 'First seen'),
      el('dd', {}, text(h.first_seen)),
      el('dt', {}, 'Last seen'),
      el('dd', {}, text(h.last_seen)),
      el('dt', {}, 'Endpoint'),
      el('dd', { id: 'host-endpoint' }, endpoint),
      el('dt', {}, 'HELO names'),
      el('dd', {}, text(h.helo.join(', '))),
      el('dt', {}, 'TLS names'),
      el('dd', {}, text(h.sni.join(', '))),
      el('dt', {}, 'Users'),
      el('dd', {}, text(h.users.join(', ')) + (h.auth_mechs.length ? ' (' + h.auth_mechs.join(', ') + ')' : '')),
    ),
    el('h2', {}, 'Destinations'),
    table(
      'host-destinations',
      [
        ['Destination', (d) => d.dest_ip + ':' + d.dest_port],
        ['Protocol', (d) => text(d.mail_proto)],
        ['Sessions', (d) => d.sessions],
        ['Verdicts', (d) => Object.entries(d.actions).map(([a, n]) => a + ' ' + n).join(', ')],
        ['Rules', (d) => text(d.rules.join(', '))],
        ['Periodicity', (d) => (d.regularity ? d.regularity.score.toFixed(2) + ' every ' + Math.round(d.regularity.mean_interval_secs) + ' s' : '-')],
        ['Intervals', (d) => histogram(d.intervals)],
        ['Names', (d) => text(d.sni.concat(d.helo).join(', '))],
        ['Processes', (d) => text(d.processes.join(', '))],
        ['Also used by', (d) => (d.other_hosts.length ? d.other_hosts.map((o) => hostLink(o.src_ip)) : '-')],
      ],
      h.destinations,
      'No session from this host.',
    ),
    el('h2', {}, 'Sessions'),
    table('host-sessions', sessionColumns(false), h.recent, 'No session from this host.'),
  );
  sizeBars(view);
}

async function coverage(view) {
  const c = await api('/api/v1/coverage');
  const rows = [['Sessions in the last 24 h', c.sessions, '']];
  rows.push(['Not inspected (any reason)', c.uninspected.sessions, pct(c.uninspected.share)]);
  for (const r of c.uninspected.reasons) rows.push(['Not inspected: ' + r.reason, r.sessions, pct(r.share)]);
  rows.push(['Matched to endpoint telemetry', c.endpoint.matched_sessions, pct(c.endpoint.matched_share)]);
  rows.push(['From unmanaged hosts', c.endpoint.unmanaged_sessions, pct(c.endpoint.unmanaged_share)]);
  rows.push(['Direct-to-internet SMTP', c.direct_to_internet.sessions, '']);
  rows.push(['Session records lost by gateways', c.records_lost, '']);
  view.replaceChildren(
    el('h1', {}, 'Coverage'),
    table('coverage-figures', [['Figure', (r) => r[0]], ['Sessions', (r) => r[1]], ['Share', (r) => r[2]]], rows),
    el('h2', {}, 'Unmanaged hosts'),
    table('coverage-unmanaged', [['Host', (h) => hostLink(h.ip)], ['Sessions', (h) => h.sessions], ['Last seen', (h) => h.last_seen]], c.endpoint.unmanaged, 'Every host sends endpoint telemetry.'),
    el('h2', {}, 'New mail talkers'),
    table('coverage-new', [['Host', (h) => hostLink(h.ip)], ['Sessions', (h) => h.sessions], ['First seen', (h) => h.first_seen]], c.new_talkers, 'No new talker.'),
    el('h2', {}, 'Direct-to-internet SMTP (relay groups: ' + text(c.direct_to_internet.relays.groups.join(', ')) + ')'),
    table('coverage-direct', [['Host', (h) => hostLink(h.ip)], ['Sessions', (h) => h.sessions], ['Destinations', (h) => h.destinations.join(', ')]], c.direct_to_internet.hosts, 'None.'),
    el('h2', {}, 'Gateways'),
    table(
      'coverage-gateways',
      [
        ['Gateway', (g) => g.name],
        ['State', (g) => el('span', { class: g.stopped_reporting ? 'status unapproved' : 'status approved' }, g.stopped_reporting ? 'NOT REPORTING' : 'reporting')],
        ['Last report', (g) => g.last_report],
        ['Records lost', (g) => Object.entries(g.records_lost).map(([k, n]) => k + ' ' + n).join(', ')],
      ],
      c.gateways,
      'No gateway has reported.',
    ),
  );
}

const VIEWS = { overview, inventory, host, coverage };

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(route, REFRESH_MS);
}

async function route() {
  clearTimeout(refreshTimer);
  const mine = ++generation;
  const [, name, arg] = (location.hash || '#/overview').split('/');
  const view = VIEWS[name] ? name : 'overview';
  for (const link of document.querySelectorAll('#nav a')) link.classList.toggle('current', link.dataset.view === view);
  const target = document.createElement('section');
  try {
    await VIEWS[view](target, arg ? decodeURIComponent(arg) : '');
    if (mine !== generation) return;
    target.id = 'view';
    $('view').replaceWith(target);
    $('status').textContent = '';
    document.body.dataset.loaded = view;
  } catch (e) {
    if (e instanceof Unauthorized) return signOut('The token was refused; sign in again.');
    $('status').textContent = 'Could not load ' + view + ': ' + e.message;
  }
}

function signOut(message) {
  clearTimeout(refreshTimer);
  sessionStorage.removeItem(TOKEN_KEY);
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('view').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
  delete document.body.dataset.loaded;
}

function signedIn() {
  $('login-view').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  route();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    signedIn();
  });
  $('logout').addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('hashchange', () => {
    if (sessionStorage.getItem(TOKEN_KEY)) route();
  });
  if (sessionStorage.getItem(TOKEN_KEY)) signedIn();
});
