// zkd console. Plain JS, no build step. Everything shown from the server
// goes through textContent (never innerHTML): znode names and data are
// untrusted. Data travels as base64 and is decoded here for display only;
// edits are encoded back to exact bytes before they are sent.
'use strict';

const $ = (id) => document.getElementById(id);
let session = null;
let current = null; // the node shown in the node panel
let healthSource = null;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = v;
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function flash(msg, kind) {
  const f = $('flash');
  f.textContent = msg;
  f.className = kind || 'info';
  f.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { f.hidden = true; }, 6000);
}

class APIError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.message)) || ('HTTP ' + status));
    this.status = status;
    this.body = body;
  }
}

async function api(method, url, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = session ? session.csrf : '';
  }
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  let data = null;
  const text = await r.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!r.ok) {
    if (r.status === 401 && url !== '/api/login') showLogin();
    throw new APIError(r.status, data);
  }
  return data;
}

// ---- bytes <-> text, exactly -------------------------------------------

function b64ToBytes(b64) {
  if (!b64) return new Uint8Array(0);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function bytesToB64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}
function bytesToHex(bytes, spaced) {
  const parts = [];
  for (let i = 0; i < bytes.length; i++) parts.push(bytes[i].toString(16).padStart(2, '0'));
  if (!spaced) return parts.join('');
  const lines = [];
  for (let i = 0; i < parts.length; i += 16) lines.push(i.toString(16).padStart(8, '0') + '  ' + parts.slice(i, i + 16).join(' '));
  return lines.join('\n');
}
function hexToBytes(s) {
  const clean = s.replace(/\s+/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error('not hex: need an even number of hex digits');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}
function utf8(bytes) {
  try { return new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch (e) { return null; }
}
function encodeInput(text, format) {
  switch (format) {
    case 'hex': return hexToBytes(text);
    case 'base64':
      try { return b64ToBytes(text.replace(/\s+/g, '')); } catch (e) { throw new Error('not base64'); }
    default: return new TextEncoder().encode(text);
  }
}
// bestFormat picks how to show bytes for editing without changing them.
function bestFormat(bytes) {
  const t = utf8(bytes);
  return t === null ? 'hex' : 'text';
}
function render(bytes, format) {
  switch (format) {
    case 'hex': return bytesToHex(bytes, false);
    case 'base64': return bytesToB64(bytes);
    default: return utf8(bytes);
  }
}

const localTime = (ms) => ms ? new Date(ms).toLocaleString() + ' (' + ms + ')' : '0';

// ---- routing -----------------------------------------------------------

function showView(name) {
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.id === 'nav-' + name);
  if (name !== 'health' && healthSource) { healthSource.close(); healthSource = null; }
}

function showLogin() {
  showView('login');
  $('nav').hidden = true;
}

function route() {
  if (!session) return;
  if (session.role === 'none') { showLogin(); return; }
  $('nav').hidden = false;
  const hash = location.hash || '#/health';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  if (path === '/tree') {
    showView('tree');
    openTree(params.get('path') || '/');
  } else if (path === '/explorer') {
    showView('explorer');
    loadSnapshots();
  } else if (path === '/audit') {
    showView('audit');
    loadAudit();
  } else {
    showView('health');
    startHealth();
  }
}

async function loadSession() {
  session = await api('GET', '/api/session');
  $('who').textContent = session.role === 'none' ? '' : session.user + ' (' + session.role + ')' + (session.authRequired ? '' : ' — no users configured');
  $('logout').hidden = session.kind !== 'user';
  document.body.dataset.role = session.role;
}

// ---- health ------------------------------------------------------------

function renderHealth(hl) {
  const tb = $('health-table').tBodies[0];
  tb.replaceChildren();
  for (const s of hl.servers) {
    const tr = h('tr', { class: s.up ? 'up' : 'down', 'data-server': s.id, id: 'server-' + s.id },
      h('td', {}, 'server.' + s.id),
      h('td', { class: 'status' }, s.up ? 'up' : 'down'),
      h('td', {}, s.up ? s.state : (s.error || '')),
      h('td', {}, s.zxid || ''),
      h('td', {}, s.up ? s.epoch : ''),
      h('td', {}, s.lag === undefined || s.lag === null ? '' : s.lag),
      h('td', {}, s.up ? s.connections : ''),
      h('td', {}, s.up ? s.outstanding : ''),
      h('td', {}, s.up ? s.avgLatencyMs.toFixed(1) + ' / ' + s.maxLatencyMs : ''),
      h('td', {}, s.fsyncP99Ms === undefined ? '' : s.fsyncP99Ms.toFixed(2)),
      h('td', {}, s.lastElection ? new Date(s.lastElection).toLocaleString() : '—'),
      h('td', {}, s.up ? s.znodes : ''),
      h('td', {}, s.url));
    tb.append(tr);
  }
  $('health-time').textContent = new Date(hl.time).toLocaleTimeString();
}

function startHealth() {
  api('GET', '/api/health').then(renderHealth).catch((e) => flash(e.message, 'error'));
  if (healthSource) return;
  healthSource = new EventSource('/api/health/stream');
  healthSource.addEventListener('health', (ev) => {
    $('health-live').textContent = 'live';
    renderHealth(JSON.parse(ev.data));
  });
  healthSource.onerror = () => { $('health-live').textContent = 'reconnecting'; };
}

// ---- tree --------------------------------------------------------------

const PAGE = 200;

function childPath(parent, name) { return parent === '/' ? '/' + name : parent + '/' + name; }

function treeItem(path, name, info) {
  const li = h('li', { 'data-path': path });
  const toggle = h('button', { class: 'toggle', title: 'expand' }, info.numChildren > 0 ? '▸' : '·');
  const label = h('a', { href: '#/tree?path=' + encodeURIComponent(path), class: 'node-link', 'data-path': path },
    name, info.numChildren > 0 ? h('span', { class: 'count' }, ' (' + info.numChildren + ')') : null,
    info.kind && info.kind !== 'persistent' ? h('span', { class: 'kind' }, ' ' + info.kind) : null);
  const ul = h('ul', { hidden: '' });
  toggle.addEventListener('click', () => {
    if (info.numChildren === 0) return;
    if (ul.hidden) {
      ul.hidden = false;
      toggle.textContent = '▾';
      if (!ul.dataset.loaded) { ul.dataset.loaded = '1'; loadChildren(path, ul, ''); }
    } else {
      ul.hidden = true;
      toggle.textContent = '▸';
    }
  });
  li.append(toggle, label, ul);
  return li;
}

async function loadChildren(path, ul, after) {
  let page;
  try {
    page = await api('GET', '/api/children?path=' + encodeURIComponent(path) + '&limit=' + PAGE + '&after=' + encodeURIComponent(after));
  } catch (e) { flash(e.message, 'error'); return; }
  const old = ul.querySelector(':scope > li.more');
  if (old) old.remove();
  for (const c of page.children) ul.append(treeItem(childPath(path, c.name), c.name, c));
  if (page.next) {
    const shown = ul.querySelectorAll(':scope > li[data-path]').length;
    const more = h('li', { class: 'more' }, h('button', { class: 'load-more', on: { click: () => loadChildren(path, ul, page.next) } },
      'Load more (' + shown + ' of ' + page.total + ' shown)'));
    ul.append(more);
  }
}

async function openTree(path) {
  $('pathbar').value = path;
  const root = $('tree');
  if (!root.dataset.loaded) {
    root.dataset.loaded = '1';
    root.replaceChildren(treeItem('/', '/', { numChildren: 1 }));
    root.querySelector('button.toggle').click();
  }
  await showNode(path);
}

async function showNode(path) {
  let n;
  try {
    n = await api('GET', '/api/node?path=' + encodeURIComponent(path));
  } catch (e) { flash(e.message, 'error'); return; }
  current = n;
  current.bytes = n.dataNull ? new Uint8Array(0) : b64ToBytes(n.data);
  hidePanels();
  $('node-path').textContent = n.path;
  $('node-kind').textContent = n.kind + (n.ttlMs ? ', TTL ' + n.ttlMs + ' ms' : '') + (n.dataNull ? ', null data' : ', ' + current.bytes.length + ' bytes');
  for (const a of document.querySelectorAll('a.node-link')) a.classList.toggle('selected', a.dataset.path === path);
  $('data-format').value = bestFormat(current.bytes) === 'text' ? (looksJSON(current.bytes) ? 'json' : 'text') : 'hex';
  renderData();
  const s = n.stat;
  const rows = [['czxid', s.czxid], ['mzxid', s.mzxid], ['pzxid', s.pzxid], ['ctime', localTime(s.ctime)], ['mtime', localTime(s.mtime)],
    ['version', s.version], ['cversion', s.cversion], ['aversion', s.aversion], ['ephemeralOwner', s.ephemeralOwner],
    ['dataLength', s.dataLength], ['numChildren', s.numChildren]];
  $('stat-table').replaceChildren(...rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', { id: 'stat-' + k }, v))));
  $('acl-table').tBodies[0].replaceChildren(...n.acl.map((a) => h('tr', {}, h('td', {}, a.scheme), h('td', {}, a.id), h('td', {}, a.permString))));
  $('acl-masked').textContent = n.aclMasked ? '(digest hashes masked: admin role needed to see them)' : '';
  const canEdit = session.role === 'editor' || session.role === 'admin';
  $('btn-edit').disabled = !canEdit;
  $('btn-create').disabled = !canEdit;
  $('btn-delete').disabled = !canEdit || n.path === '/' || n.path === '/zookeeper' || n.path.startsWith('/zookeeper/');
  $('btn-acl').disabled = session.role !== 'admin';
  $('node-actions').title = canEdit ? '' : 'read-only: your role is ' + session.role;
}

function looksJSON(bytes) {
  const t = utf8(bytes);
  if (t === null || !/^\s*[[{]/.test(t)) return false;
  try { JSON.parse(t); return true; } catch (e) { return false; }
}

function renderData() {
  const fmt = $('data-format').value;
  const bytes = current.bytes;
  let note = '';
  let out;
  if (fmt === 'json') {
    const t = utf8(bytes);
    try { out = JSON.stringify(JSON.parse(t), null, 2); } catch (e) { out = t === null ? bytesToHex(bytes, true) : t; note = 'not valid JSON; shown as ' + (t === null ? 'hex' : 'text'); }
  } else if (fmt === 'text') {
    out = utf8(bytes);
    if (out === null) { out = bytesToHex(bytes, true); note = 'not valid UTF-8; shown as hex'; }
  } else if (fmt === 'hex') {
    out = bytesToHex(bytes, true);
  } else {
    out = bytesToB64(bytes);
  }
  $('data-view').textContent = out;
  $('data-note').textContent = note;
}

function hidePanels() {
  for (const id of ['edit-form', 'conflict', 'create-form', 'delete-form', 'acl-form']) $(id).hidden = true;
}

function openEdit() {
  hidePanels();
  const fmt = bestFormat(current.bytes);
  $('edit-format').value = fmt;
  $('edit-format').dataset.prev = fmt;
  $('edit-data').value = render(current.bytes, fmt);
  $('edit-version').textContent = current.stat.version;
  $('edit-form').dataset.version = current.stat.version;
  $('edit-form').hidden = false;
}

function reformat(textarea, select) {
  // Convert what is typed to the new input format through its bytes.
  try {
    const bytes = encodeInput(textarea.value, select.dataset.prev || 'text');
    const t = render(bytes, select.value);
    if (t === null) throw new Error('these bytes are not valid UTF-8; edit them as hex or base64');
    textarea.value = t;
    select.dataset.prev = select.value;
  } catch (e) {
    flash(e.message, 'error');
    select.value = select.dataset.prev || 'text';
  }
}

async function saveData(bytes, version) {
  try {
    const r = await api('PUT', '/api/node/data', { path: current.path, data: bytesToB64(bytes), version: version });
    flash('Saved ' + current.path + ' (version ' + r.stat.version + ', zxid ' + r.zxid + ')', 'ok');
    await showNode(current.path);
  } catch (e) {
    if (e.status === 409 && e.body && e.body.current) { showConflict(e.body, bytes); return; }
    flash(e.message, 'error');
  }
}

function showConflict(body, mine) {
  hidePanels();
  const cur = body.current;
  const curBytes = cur.dataNull ? new Uint8Array(0) : b64ToBytes(cur.data);
  const show = (b) => { const t = utf8(b); return t === null ? bytesToHex(b, true) : t; };
  $('conflict-msg').textContent = body.error;
  $('conflict-yours-version').textContent = body.yours.version;
  $('conflict-yours').textContent = show(mine);
  $('conflict-current-version').textContent = cur.stat.version;
  $('conflict-current-mtime').textContent = new Date(cur.stat.mtime).toLocaleString();
  $('conflict-current').textContent = show(curBytes);
  $('conflict-retry-version').textContent = cur.stat.version;
  $('conflict').hidden = false;
  $('conflict-retry').onclick = () => saveData(mine, cur.stat.version);
  $('conflict-discard').onclick = () => showNode(current.path);
}

async function doCreate(ev) {
  ev.preventDefault();
  let bytes;
  try { bytes = encodeInput($('create-data').value, $('create-format').value); } catch (e) { flash(e.message, 'error'); return; }
  const body = { path: childPath(current.path, $('create-name').value), data: bytesToB64(bytes), mode: $('create-mode').value };
  if (body.mode.includes('ttl')) body.ttlMs = Number($('create-ttl').value);
  try {
    const r = await api('POST', '/api/node', body);
    flash('Created ' + r.path + ' (zxid ' + r.zxid + ')', 'ok');
    resetTree();
    location.hash = '#/tree?path=' + encodeURIComponent(r.path);
  } catch (e) { flash(e.message, 'error'); }
}

function resetTree() { delete $('tree').dataset.loaded; }

async function doDelete(ev) {
  ev.preventDefault();
  const p = current.path;
  const rec = $('delete-recursive').checked;
  const q = '/api/node?path=' + encodeURIComponent(p) + '&confirm=' + encodeURIComponent($('delete-confirm').value) +
    (rec ? '&recursive=true' : '&version=' + current.stat.version);
  try {
    const r = await api('DELETE', q);
    flash('Deleted ' + r.deleted + ' node(s) at ' + p + ' (zxid ' + r.zxid + ')', 'ok');
    resetTree();
    const parent = p.lastIndexOf('/') === 0 ? '/' : p.slice(0, p.lastIndexOf('/'));
    location.hash = '#/tree?path=' + encodeURIComponent(parent);
  } catch (e) { flash(e.message, 'error'); }
}

function parseACL(text) {
  const out = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const last = line.lastIndexOf(':');
    const first = line.indexOf(':');
    if (first < 0 || last === first) throw new Error('bad ACL line: ' + line);
    const perms = line.slice(last + 1);
    let p = 0;
    for (const ch of perms) {
      const bit = { r: 1, w: 2, c: 4, d: 8, a: 16 }[ch];
      if (!bit) throw new Error('bad perms ' + perms + ' (use letters of cdrwa)');
      p |= bit;
    }
    out.push({ scheme: line.slice(0, first), id: line.slice(first + 1, last), perms: p });
  }
  return out;
}

async function doACL(ev) {
  ev.preventDefault();
  try {
    const acl = parseACL($('acl-text').value);
    const r = await api('PUT', '/api/node/acl', { path: current.path, acl: acl, version: current.stat.aversion });
    flash('ACL of ' + current.path + ' set (zxid ' + r.zxid + ')', 'ok');
    await showNode(current.path);
  } catch (e) { flash(e.message, 'error'); }
}

// ---- search ------------------------------------------------------------

let searchOffset = 0;
async function doSearch(more) {
  if (!more) { searchOffset = 0; $('search-results').replaceChildren(); }
  const q = new URLSearchParams({ path: $('search-root').value || '/', q: $('search-q').value, mode: $('search-mode').value, offset: searchOffset, limit: 100 });
  if ($('search-min').value) q.set('minSize', $('search-min').value);
  if ($('search-max').value) q.set('maxSize', $('search-max').value);
  if ($('search-owner').value) q.set('owner', $('search-owner').value);
  try {
    const r = await api('GET', '/api/search?' + q);
    for (const hit of r.results) {
      $('search-results').append(h('li', {}, h('a', { href: '#/tree?path=' + encodeURIComponent(hit.path) }, hit.path),
        h('span', { class: 'hint' }, ' ' + hit.dataLength + ' B' + (hit.ephemeralOwner ? ', owner ' + hit.ephemeralOwner : ''))));
    }
    searchOffset += r.results.length;
    $('search-more').hidden = !r.more;
    if (!r.results.length && !more) $('search-results').append(h('li', { class: 'hint' }, 'no match (' + r.scanned + ' nodes scanned)'));
  } catch (e) { flash(e.message, 'error'); }
}

// ---- explorer ----------------------------------------------------------

async function loadTxns(from) {
  const q = new URLSearchParams();
  for (const [k, id] of [['to', 'txn-to'], ['path', 'txn-path'], ['session', 'txn-session'], ['types', 'txn-types'], ['since', 'txn-since'], ['until', 'txn-until']]) {
    if ($(id).value) q.set(k, $(id).value);
  }
  if (from) q.set('from', from); else if ($('txn-from').value) q.set('from', $('txn-from').value);
  q.set('limit', 100);
  try {
    const r = await api('GET', '/api/txns?' + q);
    const tb = $('txn-table').tBodies[0];
    if (!from) tb.replaceChildren();
    for (const t of r.txns) {
      const tr = h('tr', { class: 'txn', 'data-zxid': t.zxid },
        h('td', {}, t.zxid), h('td', {}, new Date(t.time_ms).toLocaleString()), h('td', {}, t.session), h('td', {}, t.type),
        h('td', {}, t.path || (t.ops ? t.ops.map((o) => o.path).filter(Boolean).join(', ') : '')),
        h('td', {}, t.error || (t.failed_op ? 'multi failed' : 'ok')));
      tr.addEventListener('click', () => {
        let decoded = '';
        if (t.data !== undefined) {
          const b = b64ToBytes(t.data);
          const s = utf8(b);
          decoded = 'data (' + b.length + ' bytes, shown as ' + (s === null ? 'hex' : 'UTF-8 text') + '):\n' + (s === null ? bytesToHex(b, true) : s) + '\n\n';
        }
        $('txn-detail').hidden = false;
        $('txn-detail').textContent = decoded + JSON.stringify(t, null, 2);
      });
      tb.append(tr);
    }
    $('txn-next').hidden = !r.next;
    $('txn-next').onclick = () => loadTxns(r.next);
    if (r.problems) flash(r.problems.join('; '), 'error');
  } catch (e) { flash(e.message, 'error'); }
}

async function loadHistory(ev) {
  if (ev) ev.preventDefault();
  const p = $('history-path').value;
  try {
    const r = await api('GET', '/api/history?path=' + encodeURIComponent(p));
    const out = $('history-out');
    out.replaceChildren(h('p', {}, r.base.snapshot ? 'Starting from ' + r.base.snapshot + ' (zxid ' + r.base.zxid + '): ' + (r.base.exists ? 'exists, version ' + r.base.stat.version : 'absent') : 'No snapshot before the logs; starting from empty.'));
    const tb = h('tbody');
    for (const c of r.changes) {
      tb.append(h('tr', { class: 'change' }, h('td', {}, c.txn.zxid), h('td', {}, new Date(c.txn.time_ms).toLocaleString()), h('td', {}, c.effect),
        h('td', {}, c.txn.session), h('td', {}, c.txn.data !== undefined ? (utf8(b64ToBytes(c.txn.data)) ?? bytesToHex(b64ToBytes(c.txn.data))) : '')));
    }
    out.append(h('table', { class: 'grid', id: 'history-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'zxid'), h('th', {}, 'Time'), h('th', {}, 'Change'), h('th', {}, 'Session'), h('th', {}, 'Data'))), tb));
  } catch (e) { flash(e.message, 'error'); }
}

async function loadSnapshots() {
  try {
    const r = await api('GET', '/api/snapshots');
    $('snap-list').replaceChildren(...r.snapshots.map((s) => h('li', {},
      h('a', { href: '#/explorer', on: { click: (ev) => { ev.preventDefault(); browseSnapshot(s.file, '/'); } } }, s.file),
      ' zxid ' + s.zxid + ', ' + s.size + ' bytes' + (s.valid ? '' : ' (invalid)'))));
    if (!r.snapshots.length) $('snap-list').append(h('li', { class: 'hint' }, 'no snapshots yet'));
  } catch (e) { $('snap-list').replaceChildren(h('li', { class: 'hint' }, e.message)); }
}

async function browseSnapshot(file, path) {
  try {
    const r = await api('GET', '/api/snapshot?file=' + encodeURIComponent(file) + '&path=' + encodeURIComponent(path));
    const v = $('snap-view');
    const bytes = r.node.dataNull ? new Uint8Array(0) : b64ToBytes(r.node.data);
    const up = path === '/' ? null : h('a', { href: '#/explorer', on: { click: (ev) => { ev.preventDefault(); browseSnapshot(file, path.lastIndexOf('/') === 0 ? '/' : path.slice(0, path.lastIndexOf('/'))); } } }, '↑ up');
    v.replaceChildren(h('h4', {}, file + ': ' + path + ' (version ' + r.node.stat.version + ', mzxid ' + r.node.stat.mzxid + ')'), up,
      h('pre', { class: 'data' }, utf8(bytes) ?? bytesToHex(bytes, true)),
      h('ul', {}, ...r.children.children.map((c) => h('li', {}, h('a', { href: '#/explorer', on: { click: (ev) => { ev.preventDefault(); browseSnapshot(file, childPath(path, c.name)); } } }, c.name), c.numChildren ? ' (' + c.numChildren + ')' : ''))),
      r.children.next ? h('p', { class: 'hint' }, 'first ' + r.children.children.length + ' of ' + r.children.total + ' children shown') : null);
  } catch (e) { flash(e.message, 'error'); }
}

async function loadDiff(ev) {
  ev.preventDefault();
  try {
    const q = new URLSearchParams({ a: $('diff-a').value, b: $('diff-b').value, path: $('diff-root').value || '/' });
    const r = await api('GET', '/api/diff?' + q);
    const list = (title, items, fmt) => h('div', {}, h('h4', {}, title), h('ul', {}, ...items.map((e) => h('li', {}, fmt(e)))));
    $('diff-out').replaceChildren(
      h('p', {}, 'From ' + r.a + ' to ' + r.b + ': ' + r.counts[0] + ' added, ' + r.counts[1] + ' removed, ' + r.counts[2] + ' changed' + (r.truncated ? ' (lists truncated)' : '')),
      list('Added', r.added, (e) => e.path),
      list('Removed', r.removed, (e) => e.path),
      list('Changed', r.changed, (e) => e.path + ': version ' + e.before.version + ' → ' + e.after.version + (e.dataChanged ? ', data' : '') + (e.aclChanged ? ', ACL' : '')));
  } catch (e) { flash(e.message, 'error'); }
}

async function loadAudit() {
  try {
    const r = await api('GET', '/api/audit');
    $('audit-table').tBodies[0].replaceChildren(...r.entries.map((e) => h('tr', { class: 'audit' },
      h('td', {}, new Date(e.time).toLocaleString()), h('td', {}, e.user + ' (' + e.kind + ')'), h('td', {}, e.op), h('td', {}, e.path),
      h('td', {}, e.result), h('td', {}, e.zxid || ''), h('td', {}, e.detail || ''), h('td', {}, e.remote + (e.session ? ', ZooKeeper session ' + e.session : '')))));
  } catch (e) { flash(e.message, 'error'); }
}

// ---- wiring ------------------------------------------------------------

function wire() {
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/login', { user: $('login-user').value, password: $('login-password').value });
      $('login-error').textContent = '';
      $('login-password').value = '';
      await loadSession();
      route();
    } catch (e) { $('login-error').textContent = e.message; }
  });
  $('logout').addEventListener('click', async () => {
    await api('POST', '/api/logout').catch(() => {});
    await loadSession();
    route();
  });
  $('pathbar-form').addEventListener('submit', (ev) => { ev.preventDefault(); location.hash = '#/tree?path=' + encodeURIComponent($('pathbar').value); });
  $('data-format').addEventListener('change', renderData);
  $('btn-edit').addEventListener('click', openEdit);
  $('edit-cancel').addEventListener('click', hidePanels);
  $('edit-format').addEventListener('change', () => reformat($('edit-data'), $('edit-format')));
  $('edit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    let bytes;
    try { bytes = encodeInput($('edit-data').value, $('edit-format').value); } catch (e) { flash(e.message, 'error'); return; }
    saveData(bytes, Number($('edit-form').dataset.version));
  });
  $('btn-create').addEventListener('click', () => { hidePanels(); $('create-parent').textContent = current.path; $('create-form').hidden = false; });
  $('create-cancel').addEventListener('click', hidePanels);
  $('create-format').addEventListener('change', () => reformat($('create-data'), $('create-format')));
  $('create-form').addEventListener('submit', doCreate);
  $('btn-delete').addEventListener('click', () => {
    hidePanels();
    $('delete-path').textContent = current.path;
    $('delete-count').textContent = current.stat.numChildren;
    $('delete-recursive').checked = current.stat.numChildren > 0;
    $('delete-confirm').value = '';
    $('delete-go').disabled = true;
    $('delete-form').hidden = false;
  });
  $('delete-confirm').addEventListener('input', () => { $('delete-go').disabled = $('delete-confirm').value !== current.path; });
  $('delete-cancel').addEventListener('click', hidePanels);
  $('delete-form').addEventListener('submit', doDelete);
  $('btn-acl').addEventListener('click', () => {
    hidePanels();
    $('acl-text').value = current.acl.map((a) => a.scheme + ':' + a.id + ':' + a.permString).join('\n');
    $('acl-form').hidden = false;
  });
  $('acl-cancel').addEventListener('click', hidePanels);
  $('acl-form').addEventListener('submit', doACL);
  $('btn-history').addEventListener('click', () => { location.hash = '#/explorer'; $('history-path').value = current.path; setTimeout(loadHistory, 0); });
  $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); doSearch(false); });
  $('search-more').addEventListener('click', () => doSearch(true));
  $('txn-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadTxns(null); });
  $('history-form').addEventListener('submit', loadHistory);
  $('diff-form').addEventListener('submit', loadDiff);
  window.addEventListener('hashchange', route);
}

async function main() {
  wire();
  try {
    await loadSession();
  } catch (e) { flash('cannot reach the console API: ' + e.message, 'error'); return; }
  route();
  document.body.dataset.ready = '1';
}

main();
