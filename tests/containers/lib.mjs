// lib.mjs - what the container test needs: commands (podman, podman-compose, curl) with their
// output, SSE readers over HTTP/2 and HTTP/1.1 that resume from their cursor as a browser does,
// the JetStream view of a NATS container (its monitoring port, read from inside), and a strict
// check of Kubernetes objects against the models of the kubernetes-models package.
import { execFile } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import { sleep } from '../support/procs.mjs';
import { SseParser } from '../../gateway/client-js/index.js';

export { sleep, until, freePort, tmpdir, CHROMIUM } from '../support/procs.mjs';

// run(file, args, opts) -> {code, stdout, stderr}; throws on a non-zero exit unless opts.ok
export function run(file, args, { env = {}, timeoutMs = 600000, ok = false, cwd } = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: timeoutMs, cwd,
      maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const r = { code, stdout, stderr };
      if (code !== 0 && !ok) {
        reject(new Error(`${file} ${args.join(' ')} exited ${code}` +
          (err && err.killed ? ' (timed out)' : '') + `\n${stderr.slice(-3000)}`));
      } else {
        resolve(r);
      }
    });
  });
}

export async function timed(fn) {
  const t0 = Date.now();
  const r = await fn();
  return { ms: Date.now() - t0, r };
}

// --- SSE ---------------------------------------------------------------------------------------
// A reader that stays on a stream until stop(): when the server closes it (a drain, a replay
// limit, a gateway stopping) it reconnects after the server's `retry:` hint, capped at 1 s, with
// Last-Event-ID, as EventSource does. `url` is https (HTTP/2, with `ca`) or http (HTTP/1.1).
export function resumingReader(url, { token, ca, name = url } = {}) {
  const u = new URL(url);
  const st = { name, events: [], connects: 0, closes: 0, errors: [], lastId: null, protocols: new Set(),
    stopped: false };
  let current = null;
  let session = null;
  let retryMs = 500;
  const onEvent = (ev) => {
    if (ev.id) st.lastId = ev.id;
    st.events.push(ev);
  };
  const headers = { accept: 'text/event-stream', authorization: `Bearer ${token}` };
  const again = () => {
    if (st.stopped) return;
    st.closes++;
    setTimeout(connect, Math.min(retryMs, 1000));
  };
  function connect() {
    if (st.stopped) return;
    st.connects++;
    const h = { ...headers };
    if (st.lastId) h['last-event-id'] = st.lastId;
    const parser = new SseParser({ onEvent, onRetry: (ms) => { retryMs = ms; } });
    const feed = (chunk) => parser.feed(chunk);
    if (u.protocol === 'https:') {
      if (!session || session.closed || session.destroyed) {
        session = http2.connect(u.origin, { ca });
        session.on('error', (e) => st.errors.push(String(e)));
      }
      const req = session.request({ ':method': 'GET', ':path': u.pathname + u.search, ...h });
      current = req;
      req.setEncoding('utf8');
      req.on('response', (hd) => {
        st.protocols.add('h2');
        if (hd[':status'] !== 200) st.errors.push(`HTTP ${hd[':status']}`);
      });
      req.on('data', feed);
      req.on('end', again);
      req.on('error', (e) => { st.errors.push(String(e)); session = null; again(); });
    } else {
      const req = http.get(url, { headers: h }, (res) => {
        st.protocols.add(`http/${res.httpVersion}`);
        if (res.statusCode !== 200) st.errors.push(`HTTP ${res.statusCode}`);
        res.setEncoding('utf8');
        res.on('data', feed);
        res.on('end', again);
        res.on('error', () => {});
      });
      current = req;
      req.on('error', (e) => { st.errors.push(String(e)); again(); });
    }
  }
  connect();
  st.stop = () => {
    st.stopped = true;
    try { current && (current.close ? current.close() : current.destroy()); } catch (e) { /* gone */ }
    try { session && session.close(); } catch (e) { /* gone */ }
  };
  return st;
}

// POST JSON over one HTTP/2 session (the front), or HTTP/1.1 (a gateway): {status, body}
export function postJson(url, token, body, { ca, session } = {}) {
  const u = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const done = (status, text) => {
      let parsed = null;
      try { parsed = JSON.parse(text); } catch (e) { /* not JSON */ }
      resolve({ status, body: parsed, text });
    };
    if (u.protocol === 'https:') {
      const s = session || http2.connect(u.origin, { ca });
      const req = s.request({ ':method': 'POST', ':path': u.pathname, 'content-type': 'application/json',
        authorization: `Bearer ${token}` });
      let text = '';
      let status = 0;
      req.setEncoding('utf8');
      req.on('response', (h) => { status = h[':status']; });
      req.on('data', (c) => { text += c; });
      req.on('end', () => { if (!session) s.close(); done(status, text); });
      req.on('error', (e) => { if (!session) s.close(); reject(e); });
      req.end(payload);
    } else {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json',
        authorization: `Bearer ${token}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => done(res.statusCode, text));
      });
      req.on('error', reject);
      req.end(payload);
    }
  });
}

// GET a path of a local HTTP port: status code, or 0 when nothing answers
export function httpStatus(port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => { req.destroy(); resolve(0); });
  });
}

// --- NATS, seen from inside its container --------------------------------------------------------
// The monitoring port is not published: bash in the container asks it over /dev/tcp.
export async function natsJsz(container) {
  const script = 'exec 3<>/dev/tcp/127.0.0.1/8222; ' +
    'printf "GET /jsz?streams=true&config=true HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3';
  const { stdout } = await run('podman', ['exec', container, 'bash', '-c', script]);
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

// {stream name: {replicas, leader}} as the node answering sees them
export async function natsStreams(container) {
  const jsz = await natsJsz(container);
  const out = {};
  for (const acc of jsz.account_details || []) {
    for (const s of acc.stream_detail || []) {
      out[s.name] = { replicas: s.config.num_replicas, leader: s.cluster && s.cluster.leader };
    }
  }
  return out;
}

// --- Kubernetes objects ------------------------------------------------------------------------
// Checks one object against the Kubernetes schema that the kubernetes-models package compiles
// (types, required fields, formats), and finds the fields no schema knows, which the schemas
// alone let through: the object is read by the generated validator through Proxies; a key the
// validator never reads is unknown, unless the validator enumerated the object (a map such as
// labels or data). Returns the problems, [] when there are none.
export async function checkObject(obj) {
  const name = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const cap = (w) => w.charAt(0).toUpperCase() + w.slice(1);
  const g = group ? group.replace(/\.k8s\.io$/, '').split('.').map(cap).join('') : 'Core';
  // the compiled schemas are not among the package's exports: import the file itself
  const file = new URL(`./node_modules/kubernetes-models/_schemas/IoK8sApi${g}${cap(version)}${obj.kind}.mjs`,
    import.meta.url);
  let validate;
  try {
    ({ validate } = await import(file));
  } catch (e) {
    return [`${name}: no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  const records = new Map(); // path -> {read, enumerated}
  const proxies = new WeakMap();
  const wrap = (v, path) => {
    if (!v || typeof v !== 'object') return v;
    if (proxies.has(v)) return proxies.get(v);
    const rec = { read: new Set(), enumerated: false };
    records.set(path, rec);
    const p = new Proxy(v, {
      get(t, k) {
        if (typeof k !== 'string') return t[k];
        rec.read.add(k);
        return wrap(t[k], `${path}/${k}`);
      },
      has(t, k) { if (typeof k === 'string') rec.read.add(k); return k in t; },
      ownKeys(t) { rec.enumerated = true; return Reflect.ownKeys(t); },
    });
    proxies.set(v, p);
    return p;
  };
  const problems = [];
  if (!validate(wrap(structuredClone(obj), ''))) {
    for (const e of validate.errors) problems.push(`${e.instancePath || '/'} ${e.keyword} ${JSON.stringify(e.params)}`);
  }
  const walk = (v, path) => {
    if (!v || typeof v !== 'object') return;
    const rec = records.get(path);
    for (const k of Object.keys(v)) {
      if (!Array.isArray(v) && rec && !rec.enumerated && !rec.read.has(k)) problems.push(`${path}/${k} unknown field`);
      walk(v[k], `${path}/${k}`);
    }
  };
  walk(obj, '');
  return problems.map((p) => `${name}: ${p}`);
}
