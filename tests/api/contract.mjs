// contract.mjs - checks a real HTTP answer against docs/openapi.yaml: the status must be one the
// document lists for that path and method (an unlisted path must be its 404, an unlisted method
// its 405), the content type one of the response's media types, every required header present,
// every described header valid, and the body valid against the response's schema (compiled with
// Ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it). An SSE body is parsed and each event's data
// is checked against the schema that `x-flovyn-sse-events` names for its `event:`.
//
// check() returns the list of problems (empty = the answer is documented); the tests assert it
// is empty, and that made-up answers the document does not describe are caught.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parseSse } from '../support/procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SPEC_PATH = path.resolve(here, '../../docs/openapi.yaml');
const ROOT_ID = 'urn:flovyn:openapi';

export function loadSpec() {
  return YAML.parse(fs.readFileSync(SPEC_PATH, 'utf8'));
}

// '#/components/schemas/X' -> the same schema inside the one Ajv root schema
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      out[k] = `${ROOT_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`;
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

function mediaType(ct) {
  return (ct || '').split(';')[0].trim().toLowerCase();
}

export class Contract {
  constructor(doc = loadSpec()) {
    this.doc = doc;
    // strict about unknown keywords (a typo in the document fails), not about the style rules
    // (`type` beside every `properties`, `required` only beside its `properties`) that OpenAPI
    // documents commonly break with allOf/oneOf refinements
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: ROOT_ID, $defs: rewriteRefs(doc.components.schemas) });
    this.compiled = new Map();
    this.templates = Object.keys(doc.paths).map((t) => ({
      template: t,
      parts: t === '/' ? [] : t.split('/').slice(1),
    }));
  }

  deref(obj) {
    let o = obj;
    while (o && o.$ref) {
      const parts = o.$ref.replace(/^#\//, '').split('/');
      o = parts.reduce((acc, p) => acc[p], this.doc);
    }
    return o;
  }

  validator(schema) {
    const key = JSON.stringify(schema);
    let v = this.compiled.get(key);
    if (!v) {
      v = this.ajv.compile(rewriteRefs(schema));
      this.compiled.set(key, v);
    }
    return v;
  }

  // a path parameter with an enum names the only paths that exist (`/{asset}`); a pattern only
  // says which values are valid, the others being that path's 400
  closedSet(template, name) {
    const item = this.doc.paths[template];
    const ops = Object.values(item).filter((o) => o && o.parameters);
    for (const op of ops) {
      for (const p0 of op.parameters) {
        const p = this.deref(p0);
        if (p.in === 'path' && p.name === name && p.schema && p.schema.enum) return p.schema.enum;
      }
    }
    return null;
  }

  // the path template a request path falls under, or null (literal segments beat parameters)
  template(pathname) {
    const segs = pathname === '/' ? [] : pathname.split('/').slice(1);
    let best = null;
    for (const t of this.templates) {
      if (t.parts.length !== segs.length) continue;
      let literal = 0;
      const ok = t.parts.every((p, i) => {
        const param = /^\{(.+)\}$/.exec(p);
        if (param) {
          const set = this.closedSet(t.template, param[1]);
          return segs[i].length > 0 && (!set || set.includes(decodeURIComponent(segs[i])));
        }
        if (p === segs[i]) { literal++; return true; }
        return false;
      });
      if (ok && (!best || literal > best.literal)) best = { template: t.template, literal };
    }
    return best && best.template;
  }

  // the response object the document gives for this answer, and where it came from
  expected(method, pathname, status) {
    const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const t = this.template(pathname);
    const responses = this.doc.components.responses;
    if (!t) return { where: `unlisted path ${pathname}`, want: { 404: responses.NotFound } };
    const op = this.doc.paths[t][m];
    if (!op) {
      const want = { 405: responses.MethodNotAllowed };
      if (m === 'options') want[204] = responses.Preflight;
      return { where: `${method} ${t} (not a listed method)`, want };
    }
    return { where: `${method} ${t}`, want: op.responses };
  }

  validateValue(schema, value, what, problems) {
    const v = this.validator(schema);
    if (!v(value)) {
      problems.push(`${what}: ${this.ajv.errorsText(v.errors, { dataVar: what })}`);
    }
  }

  checkHeaders(resp, headers, problems) {
    for (const [name, h0] of Object.entries(resp.headers || {})) {
      const h = this.deref(h0);
      const raw = headers.get(name);
      if (raw === null || raw === undefined) {
        if (h.required) problems.push(`header ${name}: required, absent`);
        continue;
      }
      if (!h.schema) continue;
      const schema = this.deref(h.schema);
      const value = schema.type === 'integer' && /^-?[0-9]+$/.test(raw) ? Number(raw) : raw;
      this.validateValue(schema, value, `header ${name}`, problems);
    }
  }

  checkSse(media, text, problems) {
    const map = media['x-flovyn-sse-events'];
    if (!map) return problems.push('text/event-stream without x-flovyn-sse-events');
    const { events, retry } = parseSse(text);
    if (retry === null) problems.push('SSE: no retry: field');
    events.forEach((ev, i) => {
      const what = `SSE event ${i} (${ev.type})`;
      let schema = map[ev.type];
      const lifecycle = !schema;
      if (lifecycle) schema = map['<event_type>'];
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (e) {
        problems.push(`${what}: data is not JSON: ${ev.data.slice(0, 80)}`);
        return;
      }
      this.validateValue(schema, data, what, problems);
      if (lifecycle && data && data.event_type !== ev.type) {
        problems.push(`${what}: event name differs from its event_type ${data.event_type}`);
      }
      const needsId = lifecycle || ['token', 'progress', 'data', 'stream_error', 'gap'].includes(ev.type);
      if (needsId) this.validateValue({ $ref: '#/components/schemas/Cursor' }, ev.id, `${what} id`, problems);
    });
    return events;
  }

  // answer: { method, url, status, headers (a Headers), body (text) } -> { problems, json, events }
  check(answer) {
    const problems = [];
    const url = new URL(answer.url, 'http://gateway');
    const { where, want } = this.expected(answer.method, url.pathname, answer.status);
    const resp0 = want[String(answer.status)] || want.default;
    if (!resp0) {
      problems.push(`${where}: status ${answer.status} is not documented (documented: ${Object.keys(want).join(', ')})`);
      return { problems };
    }
    const resp = this.deref(resp0);
    this.checkHeaders(resp, answer.headers, problems);
    const out = { problems };
    if (!resp.content) {
      if (answer.body && answer.body.length && answer.method.toUpperCase() !== 'HEAD') {
        problems.push(`${where} ${answer.status}: a body where none is documented`);
      }
      return out;
    }
    const ct = mediaType(answer.headers.get('content-type'));
    const media = resp.content[ct];
    if (!media) {
      problems.push(`${where} ${answer.status}: content type '${ct}' not documented (${Object.keys(resp.content).join(', ')})`);
      return out;
    }
    if (answer.method.toUpperCase() === 'HEAD') return out;
    if (ct === 'application/json') {
      try {
        out.json = JSON.parse(answer.body);
      } catch (e) {
        problems.push(`${where} ${answer.status}: body is not JSON: ${answer.body.slice(0, 80)}`);
        return out;
      }
      if (media.schema) this.validateValue(media.schema, out.json, `${where} ${answer.status} body`, problems);
    } else if (ct === 'text/event-stream') {
      out.events = this.checkSse(media, answer.body, problems);
    } else if (media.schema) {
      this.validateValue(media.schema, answer.body, `${where} ${answer.status} body`, problems);
    }
    return out;
  }
}
