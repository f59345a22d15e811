// @flovyn/events-client - a dependency-free client of flovyn-gateway for browsers and Node >= 20.
//
// Streams are Server-Sent Events read over fetch streaming, so the token travels in an
// `Authorization: Bearer` header and never in a URL. The stream iterator resumes by itself from the
// id of the last complete event after any drop (network error, gateway restart, `overloaded`, the
// replay limit), asks getToken() again on `auth_expired` or HTTP 401, surfaces `gap`, and ends on
// `end` or when its signal aborts. See README.md next to this file; the wire format is the
// project's contract (docs/contract.md, sections 4 and 5).

const DEFAULT_RETRY_MS = 1000; // until the server sends its own `retry:`
const DEFAULT_MAX_RETRY_MS = 30000;
const DEFAULT_IDLE_TIMEOUT_MS = 45000; // the gateway sends a keep-alive every 15 s by default
const MAX_AUTH_FAILURES = 3; // 401s in a row, each after a fresh getToken(), before giving up

/** An HTTP answer that is not a success: carries the status and the server's error body. */
export class FlovynEventsError extends Error {
  constructor(message, { status = 0, body = null, method = '', url = '', retryAfter = null } = {}) {
    super(message);
    this.name = 'FlovynEventsError';
    this.status = status;
    this.body = body;
    this.code = body && typeof body === 'object' && body.error ? body.error.code ?? null : null;
    this.method = method;
    this.url = url;
    this.retryAfter = retryAfter;
  }
}

/**
 * An incremental parser of the text/event-stream format (the WHATWG HTML rules): lines end in
 * CRLF, LF or CR (also across chunk boundaries); `data:` lines join with LF; `event:`, `id:`
 * (ignored if it contains NUL), `retry:` (digits only); lines starting with `:` are comments; a
 * field without a colon has an empty value; one space after the colon is dropped; a leading BOM
 * is skipped; a blank line dispatches, and a block without data dispatches nothing. Feed it
 * decoded text.
 *
 * `committedId` is the id in force at the last blank line: unlike `lastEventId`, an `id:` line of
 * a block cut off before its blank line never moves it, so resuming from it loses nothing.
 */
export class SseParser {
  constructor({ onEvent, onRetry, onComment, lastEventId = '' } = {}) {
    this.onEvent = onEvent || (() => {});
    this.onRetry = onRetry || (() => {});
    this.onComment = onComment || (() => {});
    this.lastEventId = lastEventId;
    this.committedId = lastEventId;
    this._rest = '';
    this._started = false;
    this._afterCR = false;
    this._data = [];
    this._type = '';
  }

  feed(text) {
    if (!text) return;
    let buf = this._rest + text;
    let pos = 0;
    if (!this._started) {
      if (buf.charCodeAt(0) === 0xfeff) pos = 1;
      this._started = true;
    }
    if (this._afterCR) {
      // a CR ended the previous chunk: an LF right after it belongs to the same line break
      if (buf.charCodeAt(pos) === 10) pos++;
      this._afterCR = false;
    }
    const n = buf.length;
    for (;;) {
      let i = pos;
      while (i < n) {
        const c = buf.charCodeAt(i);
        if (c === 10 || c === 13) break;
        i++;
      }
      if (i === n) break;
      const line = buf.slice(pos, i);
      if (buf.charCodeAt(i) === 13) {
        if (i + 1 === n) this._afterCR = true;
        else if (buf.charCodeAt(i + 1) === 10) i++;
      }
      pos = i + 1;
      this._line(line);
    }
    this._rest = buf.slice(pos);
    buf = null;
  }

  /** The stream ended: a block without its blank line is discarded (as the standard says). */
  end() {
    this._rest = '';
    this._data = [];
    this._type = '';
    this._afterCR = false;
  }

  _line(line) {
    if (line === '') {
      this._dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.onComment(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this._type = value;
        break;
      case 'data':
        this._data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.onRetry(parseInt(value, 10));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  _dispatch() {
    this.committedId = this.lastEventId;
    const data = this._data;
    const type = this._type;
    this._data = [];
    this._type = '';
    if (!data.length) return;
    this.onEvent({ type: type || 'message', id: this.lastEventId, data: data.join('\n') });
  }
}

// --- helpers --------------------------------------------------------------------------------

const CONTROL = new Set(['overloaded', 'auth_expired', 'end']);

function timeParam(v) {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Date) return String(v.getTime());
  return String(v);
}

function listParam(v) {
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

function defined(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

const id = (v) => encodeURIComponent(String(v));

function streamPath(o) {
  const wf = o.workflowExecutionId;
  const task = o.taskExecutionId;
  const hasWf = wf !== undefined && wf !== null;
  const hasTask = task !== undefined && task !== null;
  if (hasWf && hasTask) {
    throw new TypeError('stream: give workflowExecutionId or taskExecutionId, not both');
  }
  if (o.consolidated && !hasWf) {
    throw new TypeError('stream: consolidated needs a workflowExecutionId');
  }
  if (hasTask) return `/v1/task-executions/${id(task)}/stream`;
  if (hasWf) return `/v1/workflow-executions/${id(wf)}/stream${o.consolidated ? '/consolidated' : ''}`;
  return '/v1/events/stream';
}

// Waits ms, or less if the signal aborts; resolves to false when aborted.
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) {
      resolve(false);
      return;
    }
    const done = (ok) => {
      clearTimeout(t);
      if (signal) signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const t = setTimeout(() => done(true), ms);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function readBody(res) {
  const text = await res.text().catch(() => '');
  try {
    return text ? JSON.parse(text) : null;
  } catch (e) {
    return text;
  }
}

function retryAfterMs(res) {
  const v = res.headers.get('Retry-After');
  if (!v || !/^[0-9]+$/.test(v.trim())) return null;
  return parseInt(v, 10) * 1000;
}

function httpError(method, url, res, body) {
  const server = body && typeof body === 'object' && body.error ? body.error : null;
  const what = server ? `${server.code}: ${server.message}` : typeof body === 'string' && body ? body : res.statusText;
  const path = url.replace(/^[a-z]+:\/\/[^/]+/i, '');
  const ra = retryAfterMs(res);
  return new FlovynEventsError(`${method} ${path}: HTTP ${res.status} ${what}`, {
    status: res.status, body, method, url, retryAfter: ra === null ? null : ra / 1000,
  });
}

// statuses a stream retries with backoff (the others are the caller's to fix)
const retryable = (s) => s === 408 || s === 425 || s === 429 || s >= 500;

// --- the client -----------------------------------------------------------------------------

export class FlovynEvents {
  /**
   * @param {object} o
   * @param {string} [o.baseUrl] the gateway, e.g. "https://events.example.com" (a path prefix is
   *   kept); in a browser it defaults to the page's origin
   * @param {(info: {reason: string, previous: string|null}) => Promise<string>|string} [o.getToken]
   * @param {Record<string,string>} [o.headers] extra headers on every request
   * @param {typeof fetch} [o.fetch]
   */
  constructor({ baseUrl, getToken, headers, fetch: fetchFn, retryMs, maxRetryMs, idleTimeoutMs } = {}) {
    let base = baseUrl;
    if (base === undefined || base === null || base === '') {
      if (typeof location === 'undefined' || !location.origin || location.origin === 'null') {
        throw new TypeError('FlovynEvents: baseUrl is required outside a browser page');
      }
      base = location.origin;
    }
    const u = new URL(String(base));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new TypeError(`FlovynEvents: baseUrl must be http or https, not ${u.protocol}`);
    }
    if (getToken !== undefined && typeof getToken !== 'function') {
      throw new TypeError('FlovynEvents: getToken must be a function returning a token');
    }
    this.baseUrl = u.origin + u.pathname.replace(/\/+$/, '');
    this._getToken = getToken || null;
    this._headers = { ...(headers || {}) };
    this._fetch = fetchFn || null;
    this._retryMs = retryMs ?? DEFAULT_RETRY_MS;
    this._maxRetryMs = maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
    this._idleTimeoutMs = idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this._token = null;
    this._pending = null;
  }

  _url(path, query) {
    const q = new URLSearchParams(defined(query || {})).toString();
    return this.baseUrl + path + (q ? '?' + q : '');
  }

  _doFetch(url, init) {
    // looked up per call, so a fetch replaced after the module loaded (a test, a polyfill) is used
    return (this._fetch || globalThis.fetch)(url, init);
  }

  async _currentToken() {
    if (!this._getToken) return null;
    if (this._token !== null) return this._token;
    return this._refresh('initial', null);
  }

  // A fresh token, asked once however many streams and calls found `stale` refused.
  _refresh(reason, stale) {
    if (this._token !== null && this._token !== stale) return Promise.resolve(this._token);
    if (!this._pending) {
      this._pending = (async () => {
        try {
          const t = await this._getToken({ reason, previous: stale });
          if (typeof t !== 'string' || !t) {
            throw new TypeError('FlovynEvents: getToken() must resolve to a non-empty string');
          }
          this._token = t;
          return t;
        } finally {
          this._pending = null;
        }
      })();
    }
    return this._pending;
  }

  _requestHeaders(token, extra) {
    const h = { ...this._headers, ...extra };
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  // One JSON request; a 401 gets one more try with a fresh token (the gateway checks the token
  // before it reads a body, so nothing was stored).
  async _json(method, path, query, body, signal) {
    const url = this._url(path, query);
    for (let attempt = 0; ; attempt++) {
      const token = await this._currentToken();
      const headers = this._requestHeaders(token, { Accept: 'application/json' });
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await this._doFetch(url, {
        method, headers, signal, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status === 401 && this._getToken && attempt === 0) {
        await readBody(res);
        await this._refresh('unauthorized', token);
        continue;
      }
      const parsed = await readBody(res);
      if (!res.ok) throw httpError(method, url, res, parsed);
      return parsed;
    }
  }

  /**
   * Ingests FlovynEvents (one object or an array). Resolves to the server's answer
   * `{results: [{index, id, seq, duplicate} | {index, error}]}`: with HTTP 202 some items may
   * still carry an `error`. Throws FlovynEventsError when nothing was accepted.
   */
  publish(events, { signal } = {}) {
    return this._json('POST', '/v1/events', null, Array.isArray(events) ? events : [events], signal);
  }

  /** Ingests StreamEvents (token, progress, data, error) of one workflow. */
  publishStreamEvents(workflowExecutionId, items, { signal } = {}) {
    return this._json('POST', `/v1/workflow-executions/${id(workflowExecutionId)}/stream-events`,
      null, Array.isArray(items) ? items : [items], signal);
  }

  /**
   * One page of stored events: `{events, next}`; pass `next` as `after` for the following page.
   * A page shorter than `limit` is the last one for now (`next` stays valid to poll later).
   */
  history({ types, workflowExecutionId, taskExecutionId, source, since, until, after, limit, signal } = {}) {
    return this._json('GET', '/v1/events', {
      types: listParam(types),
      workflow_execution_id: workflowExecutionId,
      task_execution_id: taskExecutionId,
      source,
      since: timeParam(since),
      until: timeParam(until),
      after,
      limit: limit === undefined || limit === null ? undefined : String(limit),
    }, undefined, signal);
  }

  /**
   * The events of the tenant, a workflow (optionally consolidated with its descendants) or a task,
   * as an async iterator of `{type, id, data, raw}` that resumes by itself. See README.md.
   */
  async *stream(options = {}) {
    const o = options || {};
    const run = {
      signal: o.signal || null,
      path: streamPath(o),
      query: {
        types: listParam(o.types),
        source: o.source,
        since: timeParam(o.since),
        until: timeParam(o.until),
        close_on_terminal: o.closeOnTerminal ? 'true' : undefined,
      },
      onState: typeof o.onState === 'function' ? o.onState : () => {},
      lastEventId: o.lastEventId ? String(o.lastEventId) : '',
      retryMs: this._retryMs, // the server's latest `retry:`
      failures: 0, // connections in a row that delivered nothing
      authFailures: 0, // 401s in a row
      refresh: null, // {reason, token}: ask getToken() before the next connection
      ended: false,
    };
    const aborted = () => run.signal !== null && run.signal.aborted;
    let wait = null;
    let failed = false;
    try {
      for (;;) {
        if (aborted()) return;
        if (wait) {
          run.onState({ state: 'reconnecting', lastEventId: run.lastEventId, ...wait });
          if (!(await sleep(wait.delayMs, run.signal))) return;
          wait = null;
        }
        // after a refusal the new token is asked for only now, once the wait was announced
        const refresh = run.refresh;
        run.refresh = null;
        const token = refresh ? await this._refresh(refresh.reason, refresh.token) : await this._currentToken();
        if (aborted()) return;
        const conn = new AbortController();
        const onAbort = () => conn.abort();
        if (run.signal) run.signal.addEventListener('abort', onAbort, { once: true });
        try {
          const opened = await this._open(run, token, conn.signal);
          if (aborted()) return;
          if (opened.wait) {
            wait = opened.wait;
            continue;
          }
          const read = yield* this._read(run, opened.res, conn);
          if (run.ended || aborted()) return;
          wait = this._afterRead(run, token, read);
        } finally {
          if (run.signal) run.signal.removeEventListener('abort', onAbort);
          conn.abort();
        }
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const reason = failed ? 'error' : run.ended ? 'end' : aborted() ? 'aborted' : 'return';
      run.onState({ state: 'closed', reason, lastEventId: run.lastEventId });
    }
  }

  // the wait before the next connection: the server's hint, growing after fruitless connections
  _backoff(run) {
    if (run.failures <= 1) return run.retryMs;
    const grown = Math.min(this._maxRetryMs, run.retryMs * 2 ** (run.failures - 1));
    return Math.max(run.retryMs, Math.round(grown * (0.75 + Math.random() * 0.5)));
  }

  // One connection: {res} when the event stream is open, {wait} to try again, or throws.
  async _open(run, token, signal) {
    const query = { ...run.query };
    const headers = this._requestHeaders(token, { Accept: 'text/event-stream' });
    if (run.lastEventId) {
      delete query.since; // the cursor positions every reconnect
      headers['Last-Event-ID'] = run.lastEventId;
    }
    const url = this._url(run.path, query);
    run.onState({ state: 'connecting', lastEventId: run.lastEventId });
    let res;
    try {
      res = await this._doFetch(url, { headers, signal, cache: 'no-store' });
    } catch (error) {
      run.failures++;
      return { wait: { reason: 'network', error, delayMs: this._backoff(run) } };
    }
    if (res.status === 401 && this._getToken) {
      const body = await readBody(res);
      if (++run.authFailures >= MAX_AUTH_FAILURES) throw httpError('GET', url, res, body);
      run.refresh = { reason: 'unauthorized', token };
      run.failures++;
      const delayMs = run.authFailures === 1 ? 0 : this._backoff(run);
      return { wait: { reason: 'unauthorized', status: 401, data: body, delayMs } };
    }
    if (!res.ok) {
      const body = await readBody(res);
      if (!retryable(res.status)) throw httpError('GET', url, res, body);
      run.failures++;
      const delayMs = Math.max(this._backoff(run), retryAfterMs(res) || 0);
      return { wait: { reason: 'http', status: res.status, data: body, delayMs } };
    }
    const ctype = (res.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
    if (ctype !== 'text/event-stream') {
      await res.body?.cancel().catch(() => {});
      throw new FlovynEventsError(`GET ${run.path}: expected text/event-stream, got '${ctype}'`, {
        status: res.status, method: 'GET', url,
      });
    }
    run.authFailures = 0;
    run.onState({ state: 'open', lastEventId: run.lastEventId });
    return { res };
  }

  // Yields the events of one open connection until it ends; returns how it ended.
  async *_read(run, res, conn) {
    const queue = [];
    const parser = new SseParser({
      lastEventId: run.lastEventId,
      onEvent: (e) => queue.push(e),
      onRetry: (ms) => { run.retryMs = ms; },
    });
    const out = { productive: false, control: null, error: null, idle: false };
    let idleTimer = null;
    const armIdle = () => {
      if (!this._idleTimeoutMs) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        out.idle = true;
        conn.abort();
      }, this._idleTimeoutMs);
    };
    const reader = res.body ? res.body.getReader() : null;
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    try {
      for (let more = reader !== null; more;) {
        armIdle();
        const { done, value } = await reader.read();
        if (done) {
          parser.feed(decoder.decode());
          parser.end();
          more = false;
        } else {
          parser.feed(decoder.decode(value, { stream: true }));
        }
        while (queue.length) {
          if (run.signal && run.signal.aborted) return out; // nothing once the caller stopped
          const e = queue.shift();
          let data = e.data;
          try {
            data = JSON.parse(e.data);
          } catch (err) {
            // not JSON: handed over as the text it is
          }
          const ev = { type: e.type, id: e.id, data, raw: e.data };
          if (e.type === 'end') {
            run.ended = true;
            yield ev;
            return out;
          }
          if (CONTROL.has(e.type)) {
            out.control = { reason: e.type, data };
            continue;
          }
          out.productive = true;
          run.lastEventId = e.id;
          yield ev;
        }
      }
    } catch (error) {
      out.error = error;
    } finally {
      clearTimeout(idleTimer);
    }
    // also an id that came in a block without data; never one of a block cut off midway
    run.lastEventId = parser.committedId;
    return out;
  }

  // After a connection ended without `end`: what to wait for before the next one.
  _afterRead(run, token, read) {
    run.failures = read.productive ? 0 : run.failures + 1;
    if (read.control && read.control.reason === 'auth_expired') {
      run.refresh = { reason: 'auth_expired', token };
      return { ...read.control, delayMs: 0 };
    }
    if (read.control) return { ...read.control, delayMs: this._backoff(run) };
    if (read.idle) return { reason: 'idle', delayMs: 0 };
    if (read.error) return { reason: 'network', error: read.error, delayMs: this._backoff(run) };
    return { reason: 'closed', delayMs: this._backoff(run) };
  }
}

export default FlovynEvents;
