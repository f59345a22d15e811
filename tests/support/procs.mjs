// procs.mjs - real processes for the node test suites (browser e2e, API, producers, the
// JavaScript client's tests): nats-server on a free port with a temporary store, `flovyn-bridge
// init`, flovyn-gateway processes, token minting, HTTP ingest and a reader for finished SSE
// bodies. Node built-ins only, so every suite can use it whatever its own npm dependencies are.
//
// Every process is started here and stopped by its own pid; nothing is looked up by name.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID, randomBytes } from 'node:crypto';

export const BUILD_DIR = path.resolve(process.env.FV_BUILD_DIR || 'build');
export const CHROMIUM = process.env.FV_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.join(BUILD_DIR, 'e2e');

const children = new Set();
function cleanupAll() {
  for (const c of children) {
    try { process.kill(c.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
  children.clear();
}
process.on('exit', cleanupAll);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(what, fn, timeoutMs = 15000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(stepMs);
  }
}

export function bin(name) {
  const p = path.join(BUILD_DIR, name);
  if (!fs.existsSync(p)) throw new Error(`${p} is not built (cmake --build ${BUILD_DIR})`);
  return p;
}

export function tmpdir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fv-test-' + tag + '-'));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function portOpen(port) {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

// A child process with its output in a log file; stop() by pid and wait for the exit.
export function start(name, file, args, logPath, env = {}) {
  const out = fs.openSync(logPath, 'a');
  const child = spawn(file, args, {
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
  });
  fs.closeSync(out);
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => {
    children.delete(child);
    resolve({ code, sig });
  }));
  return {
    name, child, logPath, exited,
    pid: child.pid,
    async stop(sig = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      try { process.kill(child.pid, sig); } catch (e) { return exited; }
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch (e) { /**/ } }, graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

export async function startNats(dir) {
  const port = await freePort();
  const store = path.join(dir, 'jetstream');
  fs.mkdirSync(store, { recursive: true });
  const p = start('nats-server', 'nats-server',
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store],
    path.join(dir, 'nats.log'));
  await until('nats-server to listen', () => portOpen(port), 10000);
  p.url = `nats://127.0.0.1:${port}`;
  return p;
}

export function bridgeInit(natsUrl, dir) {
  execFileSync(bin('flovyn-bridge'), ['init', '--nats-url', natsUrl], {
    stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000,
    env: { ...process.env, FLOVYN_LOG_LEVEL: 'warn' },
  });
}

export function writeSecret(dir) {
  const f = path.join(dir, 'jwt.secret');
  fs.writeFileSync(f, randomBytes(48).toString('base64') + '\n', { mode: 0o600 });
  return f;
}

export function mintToken(secretFile, tenant, ttl = '1h', extra = []) {
  return execFileSync(bin('flovyn-gateway'),
    ['token', '--tenant', tenant, '--ttl', ttl, '--jwt-secret-file', secretFile, ...extra],
    { encoding: 'utf8', timeout: 10000 }).trim();
}

// Starts (or restarts, same port) a gateway on NATS (or, without natsUrl, on its embedded memory
// bus) with HS256 auth (or, without secretFile, whatever `args` say, e.g. --auth none) and waits
// until `waitFor` answers 200: /readyz by default, /healthz for a gateway that is expected not to
// be ready.
export async function startGateway({
  dir, natsUrl, secretFile, port, name = 'gateway', args = [], waitFor = '/readyz',
}) {
  port = port || (await freePort());
  const auth = secretFile ? ['--jwt-secret-file', secretFile] : [];
  const g = start(name, bin('flovyn-gateway'),
    [...(natsUrl ? ['--nats-url', natsUrl] : []), '--listen', `127.0.0.1:${port}`, ...auth,
      '--log-format', 'json', ...args],
    path.join(dir, name + '.log'));
  g.port = port;
  g.base = `http://127.0.0.1:${port}`;
  await until(`${name} to answer ${waitFor}`, async () => {
    if (g.child.exitCode !== null) throw new Error(`${name} exited: see ${g.logPath}`);
    try {
      const r = await fetch(g.base + waitFor);
      return r.ok;
    } catch (e) {
      return false;
    }
  }, 20000, 100);
  return g;
}

// Parses a whole SSE body (a stream that was closed) into its events and its last `retry:`,
// following the WHATWG rules the gateway relies on: `field: value` lines, one leading space
// dropped, several `data:` lines joined with "\n", an event dispatched at a blank line, comments
// (`:`) ignored. Each event: { id, type, data } (type 'message' when no `event:`).
export function parseSse(text) {
  const events = [];
  let retry = null;
  let cur = { id: '', type: '', data: [] };
  let lastId = '';
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (cur.data.length) {
        events.push({ id: lastId, type: cur.type || 'message', data: cur.data.join('\n') });
      }
      cur = { id: '', type: '', data: [] };
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') cur.data.push(value);
    else if (field === 'event') cur.type = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value)) retry = Number(value);
  }
  return { events, retry };
}

// --- producing events over HTTP ingest -------------------------------------------------------
export async function ingestEvents(base, token, events) {
  const r = await fetch(base + '/v1/events', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(events),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST /v1/events: ${r.status} ${text}`);
  return text;
}

export async function ingestStream(base, token, workflow, items) {
  const r = await fetch(`${base}/v1/workflow-executions/${workflow}/stream-events`, {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(items),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST stream-events: ${r.status} ${text}`);
  return text;
}

export function lifecycle(workflow, type, extra = {}) {
  return {
    id: randomUUID(), workflow_execution_id: workflow, event_type: type,
    source: 'e2e', data: extra.data ?? {}, task_execution_id: extra.task ?? null,
    parent_workflow_execution_id: extra.parent ?? null,
  };
}

export function tokens(workflow, task, firstSeq, words) {
  return words.map((w, i) => ({
    workflow_execution_id: workflow, task_execution_id: task, sequence: firstSeq + i,
    type: 'token', payload: { text: w + ' ' }, timestamp_ms: Date.now(),
  }));
}
