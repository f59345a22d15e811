// app.js - the flovyn-events demo page: a tenant's workflows as they start and finish, and for
// the selected workflow its lifecycle timeline and token stream, live over Server-Sent Events.
//
// Plain browser JavaScript, no build step: an ES module on the project's client (/client.js, served
// by the gateway from gateway/client-js/index.js). The client reads the streams over fetch with the
// token in a header, resumes from the last event after any drop, `overloaded` or the replay limit,
// asks getToken() below for a new token on `auth_expired` or a refusal, and reports what it does
// through onState, which this page turns into its status line and connection dots. At most two
// streams are open at once (the tenant stream and the selected workflow's stream): the gateway
// speaks HTTP/1.1 and browsers allow six connections per origin.
// Everything from the server is rendered with textContent, never as HTML.
import { FlovynEvents, FlovynEventsError } from '/client.js';

// --- instrumentation (read by the browser tests; bounded) ------------------------------------
// every event a stream delivered (data as received), every connection attempt, every drop
const trace = (window.__flovyn = { events: [], opens: [], errors: 0 });
function record(stream, type, id, data) {
  if (trace.events.length >= 20000) trace.events.shift();
  trace.events.push({ stream: stream, type: type, id: id, data: data });
}

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const shortId = (id) => (id && id.length > 12 ? id.slice(0, 8) + '…' : id || '');
const fmtTime = (ms) => {
  if (!ms) return '';
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
};
function status(text) { $('status').textContent = text; }

// --- token ----------------------------------------------------------------------------------
let token = null;
let claims = null;

function decodeClaims(t) {
  try {
    const part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.prototype.map.call(atob(part),
      (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(json);
  } catch (e) {
    return null;
  }
}

function setToken(t) {
  token = t ? t.trim() : null;
  claims = token ? decodeClaims(token) : null;
  $('tenant').textContent = claims && claims.tenant_id ? claims.tenant_id : 'no tenant';
  $('token-input').value = token || '';
}

const tokenExpired = () => !claims || typeof claims.exp !== 'number' ||
  claims.exp * 1000 <= Date.now() + 2000;

function cookieToken() {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'flovyn_token') return decodeURIComponent(v.join('='));
  }
  return null;
}

// Demo mode: the gateway mints a short-lived token for its demo tenant (404 otherwise).
async function demoToken() {
  try {
    const r = await fetch('/demo/token', { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) return null;
    const j = await r.json();
    return typeof j.token === 'string' ? j.token : null;
  } catch (e) {
    return null;
  }
}

// The client's getToken: the page's token first; after `auth_expired` or a refusal, one from the
// demo endpoint, else the user is asked (the stream then stops until Connect is pressed).
async function getToken(info) {
  if (info.reason === 'initial' && token) return token;
  const t = await demoToken();
  if (t) {
    setToken(t);
    return t;
  }
  status('token expired or rejected: paste a new token and press Connect');
  $('token-input').focus();
  throw new Error('no valid token');
}

let client = null; // one per Connect: it holds the token both streams use

// --- one stream: the client's iterator, shown in a dot and the status line ---------------------
class Stream {
  constructor(name, options, dot, onEvent) {
    this.name = name;
    this.options = options;
    this.dot = dot;
    this.onEvent = onEvent;
    this.lastId = '';
    this.abort = new AbortController();
  }

  open() {
    if (!client) return;
    const events = client.stream({
      ...this.options, signal: this.abort.signal, onState: (s) => this.state(s),
    });
    (async () => {
      try {
        for await (const ev of events) {
          this.lastId = ev.id;
          record(this.name, ev.type, ev.id, ev.raw);
          $('cursor').textContent = this.lastId || '–';
          if (ev.type === 'gap') status(this.name + ': some history was no longer retained (gap)');
          this.onEvent(ev.type, ev.data);
        }
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.setDot('off');
        // a missing token was already explained by getToken
        if (e instanceof FlovynEventsError) status(this.name + ': ' + e.message);
      }
    })();
  }

  state(s) {
    if (this.abort.signal.aborted) return; // replaced by another stream on the same dot
    if (s.state === 'connecting') {
      trace.opens.push({ stream: this.name, lastId: s.lastEventId, at: Date.now() });
      this.setDot('connecting');
    } else if (s.state === 'open') {
      this.setDot('live');
    } else if (s.state === 'reconnecting') {
      trace.errors++;
      this.setDot('connecting');
      if (s.reason === 'overloaded' || s.reason === 'auth_expired') {
        record(this.name, s.reason, s.lastEventId, JSON.stringify(s.data));
        this.onEvent(s.reason, s.data);
      }
      if (s.reason === 'overloaded') status(this.name + ': server busy, retrying shortly');
      else if (s.reason === 'auth_expired') status(this.name + ': token expired, renewing…');
      else status(this.name + ': reconnecting in ' + Math.round(s.delayMs / 1000) + ' s');
    } else if (s.state === 'closed') {
      this.setDot(s.reason === 'end' ? 'done' : 'off');
    }
  }

  close() {
    this.abort.abort();
    this.setDot('off');
  }

  setDot(state) {
    if (!this.dot) return;
    this.dot.className = 'dot ' + state;
    this.dot.title = this.name + ': ' + state;
    if (state === 'live') status(this.name + ' stream live');
  }
}

// --- workflows list (tenant stream) --------------------------------------------------------
const workflows = new Map(); // id -> {id, parent, status, started, finished, label, li}
let selected = null;
let pinned = false; // the user picked a workflow: stop following new ones

function statusOf(type) {
  const a = type.split('.').pop();
  if (a === 'completed' || a === 'succeeded') return 'completed';
  if (a === 'failed' || a === 'timed_out' || a === 'terminated') return 'failed';
  if (a === 'cancelled' || a === 'canceled') return 'cancelled';
  return 'running';
}

function labelOf(ev) {
  const d = ev.data && typeof ev.data === 'object' ? ev.data : {};
  return d.workflow_type || d.kind || d.name || d.type || '';
}

function onTenantEvent(type, ev) {
  if (!ev || typeof ev !== 'object' || !ev.workflow_execution_id) return;
  if (!type.startsWith('workflow')) return;
  const id = ev.workflow_execution_id;
  let w = workflows.get(id);
  if (!w) {
    w = { id: id, parent: ev.parent_workflow_execution_id || null, status: 'running',
      started: ev.timestamp_ms, finished: null, label: labelOf(ev) };
    workflows.set(id, w);
  }
  if (!w.parent && ev.parent_workflow_execution_id) w.parent = ev.parent_workflow_execution_id;
  if (!w.label) w.label = labelOf(ev);
  const s = statusOf(type);
  w.status = s;
  if (s !== 'running') w.finished = ev.timestamp_ms;
  prune();
  renderWorkflows();
  // follow the newest run until the user picks one, without leaving a run that is still going
  if (pinned || w.parent || id === selected) return;
  const cur = selected ? workflows.get(selected) : null;
  if (!selected || ((!cur || cur.status !== 'running') && type === 'workflow.started')) {
    select(id, false);
  }
}

// a page left open on a busy tenant keeps the newest runs only
const MAX_WORKFLOWS = 300;
function prune() {
  if (workflows.size <= MAX_WORKFLOWS) return;
  const old = [...workflows.values()].filter((w) => w.id !== selected)
    .sort((a, b) => (a.started || 0) - (b.started || 0));
  for (const w of old.slice(0, workflows.size - MAX_WORKFLOWS + 50)) workflows.delete(w.id);
}

function depthOf(w) {
  let d = 0;
  for (let p = w.parent; p && workflows.has(p) && d < 8; p = workflows.get(p).parent) d++;
  return d;
}

function renderWorkflows() {
  // parents before children, newest root first; bounded to the 200 newest
  const roots = [...workflows.values()].filter((w) => !w.parent || !workflows.has(w.parent))
    .sort((a, b) => (b.started || 0) - (a.started || 0));
  const order = [];
  const walk = (w, depth) => {
    if (order.length >= 200 || depth > 8) return;
    order.push(w);
    for (const c of workflows.values()) if (c.parent === w.id) walk(c, depth + 1);
  };
  roots.forEach((r) => walk(r, 0));
  const list = $('wf-list');
  list.textContent = '';
  for (const w of order) {
    const li = el('li', 'wf ' + w.status + (w.id === selected ? ' selected' : ''));
    li.style.setProperty('--depth', depthOf(w));
    li.dataset.id = w.id;
    li.tabIndex = 0;
    const top = el('div', 'wf-top');
    top.append(el('span', 'badge ' + w.status, w.status), el('code', 'wf-id', shortId(w.id)));
    if (w.parent) top.append(el('span', 'child', 'child'));
    const meta = el('div', 'wf-meta');
    meta.append(el('span', 'wf-label', w.label || 'workflow'));
    const dur = w.finished && w.started ? ((w.finished - w.started) / 1000).toFixed(1) + ' s' : '';
    meta.append(el('span', 'wf-time', fmtTime(w.started) + (dur ? ' · ' + dur : '')));
    li.append(top, meta);
    li.title = w.id;
    list.append(li);
  }
  $('wf-count').textContent = String(workflows.size);
  $('wf-empty').hidden = workflows.size > 0;
}

$('wf-list').addEventListener('click', (e) => {
  const li = e.target.closest('li.wf');
  if (li) select(li.dataset.id, true);
});
$('wf-list').addEventListener('keydown', (e) => {
  const li = e.target.closest('li.wf');
  if (li && (e.key === 'Enter' || e.key === ' ')) {
    e.preventDefault();
    select(li.dataset.id, true);
  }
});

// --- selected workflow (merged stream) ----------------------------------------------------
let wfStream = null;
const outputs = new Map(); // "workflow/task" -> {box, text, bar, data, name}
const taskNames = new Map(); // task id -> task_type learned from its lifecycle events

function outputName(wf, task) {
  const t = taskNames.get(task);
  const name = task ? (t ? t + ' · ' : 'task ') + shortId(task) : 'workflow';
  return name + (wf !== selected ? ' (wf ' + shortId(wf) + ')' : '');
}

function select(id, byUser) {
  if (byUser) pinned = true;
  if (wfStream) wfStream.close();
  selected = id;
  outputs.clear();
  taskNames.clear();
  $('timeline').textContent = '';
  $('outputs').textContent = '';
  $('detail-body').hidden = false;
  $('detail-title').textContent = 'Workflow ' + shortId(id);
  $('detail-title').title = id;
  renderWorkflows();
  wfStream = new Stream('workflow',
    { workflowExecutionId: id, consolidated: $('consolidated').checked },
    $('conn-workflow'), onWorkflowEvent);
  wfStream.open();
}

$('consolidated').addEventListener('change', () => { if (selected) select(selected, false); });

function summary(data) {
  if (data === null || data === undefined) return '';
  const s = typeof data === 'string' ? data : JSON.stringify(data);
  return s.length > 140 ? s.slice(0, 139) + '…' : s;
}

function addTimeline(cls, type, ev, detail) {
  const li = el('li', 'tl ' + cls);
  li.append(el('time', 'tl-time', fmtTime(ev && ev.timestamp_ms)));
  li.append(el('span', 'tl-type', type));
  const who = [];
  if (ev && ev.workflow_execution_id && ev.workflow_execution_id !== selected) {
    who.push('wf ' + shortId(ev.workflow_execution_id));
  }
  if (ev && ev.task_execution_id) who.push('task ' + shortId(ev.task_execution_id));
  if (who.length) li.append(el('span', 'tl-who', who.join(' · ')));
  if (detail) li.append(el('span', 'tl-data', detail));
  const tl = $('timeline');
  tl.append(li);
  while (tl.children.length > 500) tl.firstChild.remove();
  li.scrollIntoView({ block: 'nearest' });
}

function outputFor(ev) {
  const wf = ev.workflow_execution_id || selected;
  const task = ev.task_execution_id || '';
  const key = wf + '/' + task;
  let o = outputs.get(key);
  if (!o) {
    const box = el('div', 'out');
    const head = el('div', 'out-head');
    const name = el('span', 'out-name', outputName(wf, task));
    name.title = task || wf;
    head.append(name);
    const bar = el('div', 'progress');
    const fill = el('div', 'fill');
    bar.append(fill);
    bar.hidden = true;
    const pct = el('span', 'pct');
    head.append(pct);
    const text = el('pre', 'text');
    const data = el('ul', 'data');
    box.append(head, bar, text, data);
    $('outputs').append(box);
    o = { box: box, text: text, bar: bar, fill: fill, pct: pct, data: data, name: name, wf: wf, task: task };
    outputs.set(key, o);
  }
  return o;
}

function tokenText(p) {
  if (typeof p === 'string') return p;
  if (p && typeof p === 'object') {
    for (const k of ['text', 'token', 'content', 'delta', 'value']) {
      if (typeof p[k] === 'string') return p[k];
    }
  }
  return p === null || p === undefined ? '' : JSON.stringify(p);
}

function progressOf(p) {
  let v = null;
  let msg = '';
  if (typeof p === 'number') v = p;
  else if (p && typeof p === 'object') {
    for (const k of ['progress', 'percent', 'value', 'fraction']) {
      if (typeof p[k] === 'number') { v = p[k]; break; }
    }
    msg = typeof p.message === 'string' ? p.message : '';
  }
  if (v === null) return null;
  if (v <= 1) v *= 100;
  return { pct: Math.max(0, Math.min(100, v)), msg: msg };
}

function onWorkflowEvent(type, ev) {
  if (type === 'token') {
    const o = outputFor(ev);
    o.text.textContent += tokenText(ev.payload);
    o.text.scrollTop = o.text.scrollHeight;
  } else if (type === 'progress') {
    const o = outputFor(ev);
    const p = progressOf(ev.payload);
    if (p) {
      o.bar.hidden = false;
      o.fill.style.width = p.pct.toFixed(1) + '%';
      o.pct.textContent = Math.round(p.pct) + '%' + (p.msg ? ' · ' + p.msg : '');
    }
  } else if (type === 'data') {
    const o = outputFor(ev);
    o.data.append(el('li', '', summary(ev.payload)));
  } else if (type === 'stream_error') {
    const o = outputFor(ev);
    o.data.append(el('li', 'err', 'error: ' + summary(ev.payload)));
    addTimeline('error', 'stream error', ev, summary(ev.payload));
  } else if (type === 'gap') {
    addTimeline('control', 'gap', null, 'history before ' + (ev && ev.resumed_from) + ' expired');
  } else if (type === 'end') {
    addTimeline('control', 'end of stream', null, '');
  } else if (type === 'overloaded' || type === 'auth_expired') {
    addTimeline('control', type, null, 'reconnecting');
  } else if (ev && typeof ev === 'object') {
    const tt = ev.data && typeof ev.data === 'object' ? ev.data.task_type : null;
    if (ev.task_execution_id && typeof tt === 'string' && !taskNames.has(ev.task_execution_id)) {
      taskNames.set(ev.task_execution_id, tt);
      for (const o of outputs.values()) {
        if (o.task === ev.task_execution_id) o.name.textContent = outputName(o.wf, o.task);
      }
    }
    addTimeline(statusOf(type), type, ev, summary(ev.data));
    // the tenant stream may have started after this workflow did; learn it from here too
    if (type.startsWith('workflow') && ev.workflow_execution_id) onTenantEvent(type, ev);
  }
}

// --- start --------------------------------------------------------------------------------
let tenantStream = null;

function connect() {
  if (tenantStream) tenantStream.close();
  if (!token) {
    status('no token: paste one (flovyn-gateway token --tenant T …) and press Connect');
    return;
  }
  if (wfStream) wfStream.close();
  if (tokenExpired()) status('this token has expired');
  client = new FlovynEvents({ baseUrl: location.origin, getToken: getToken });
  // the tenant stream starts with new events; `since` shows the last 15 minutes too
  tenantStream = new Stream('tenant', { types: 'workflow', since: Date.now() - 15 * 60 * 1000 },
    $('conn-tenant'), onTenantEvent);
  tenantStream.open();
  if (selected) select(selected, false);
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($('token-input').value);
  connect();
});

async function start() {
  const params = new URLSearchParams(location.search);
  let t = params.get('token');
  if (t) {
    // keep the token out of the address bar, history and screenshots
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : ''));
  }
  t = t || cookieToken() || (await demoToken());
  setToken(t);
  connect();
  const wf = params.get('workflow');
  if (wf && token) select(wf, true);
}

// test hook: the browser tests open the merged stream through the page's own machinery
window.flovynDemo = { select: (id) => select(id, true), streams: () => ({ tenant: tenantStream, workflow: wfStream }) };

start();
