// gateway.test.mjs - flovyn-gateway as a browser sees it: the demo page in headless Chromium
// shows a tenant's workflows and token output; its stream of a merged workflow (the JavaScript
// client, /client.js, over fetch) survives a gateway crash (SIGKILL + restart) with no lost and no
// repeated event; a raw SSE capture parsed with eventsource-parser agrees with the browser event
// for event; an expiring token yields `auth_expired`; the client streams, publishes and pages
// history in a page with the token in a header only.
//
// The stack is real: nats-server (free port, temporary store), `flovyn-bridge init`, two gateway
// processes on the same NATS (one serves the browser and gets killed, the other takes ingest so
// events keep arriving while the first is down), tokens from `flovyn-gateway token`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import {
  ARTIFACTS, bin, bridgeInit, ingestEvents, ingestStream, launchBrowser, lifecycle, mintToken,
  readSse, startGateway, startNats, tmpdir, tokens, until, writeSecret, sleep,
} from './harness.mjs';

const TENANT = 'e2e-' + randomUUID().slice(0, 8);
// the gateway checks token expiry on its heartbeat timer; a short one keeps the test short
let GW_ARGS = ['--heartbeat', '1s'];

let dir, nats, gw, ingest, secret, token, context, page, other;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // another origin for the CORS test: http://127.0.0.1:P is allowed, http://localhost:P is not
  other = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>another origin</title>');
  });
  await new Promise((r) => other.listen(0, '127.0.0.1', r));
  other.port = other.address().port;
  GW_ARGS = [...GW_ARGS, '--cors-origins', `http://127.0.0.1:${other.port}`];
  dir = tmpdir('gw');
  nats = await startNats(dir);
  bridgeInit(nats.url, dir);
  secret = writeSecret(dir);
  token = mintToken(secret, TENANT, '1h');
  gw = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, name: 'gateway', args: GW_ARGS });
  ingest = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, name: 'ingest', args: GW_ARGS });
  context = await launchBrowser(dir);
  // count event streams open at once, independently of the page's own bookkeeping: every fetch
  // that asks for text/event-stream is open from its request until its body ends, fails or is
  // cancelled (the page reads streams through the client, over fetch)
  await context.addInitScript(() => {
    const nativeFetch = window.fetch;
    let open = 0;
    window.__sseMax = 0;
    window.fetch = async (input, init) => {
      const accept = new Headers((init && init.headers) || {}).get('Accept') || '';
      if (!accept.includes('text/event-stream')) return nativeFetch(input, init);
      let closed = false;
      const done = () => { if (!closed) { closed = true; open--; } };
      window.__sseMax = Math.max(window.__sseMax, ++open);
      let res;
      try {
        res = await nativeFetch(input, init);
      } catch (e) {
        done();
        throw e;
      }
      if (!res.body) {
        done();
        return res;
      }
      const reader = res.body.getReader();
      const body = new ReadableStream({
        async pull(c) {
          try {
            const r = await reader.read();
            if (r.done) {
              done();
              c.close();
            } else {
              c.enqueue(r.value);
            }
          } catch (e) {
            done();
            c.error(e);
          }
        },
        cancel(why) {
          done();
          return reader.cancel(why);
        },
      });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.error('page error:', e.message));
});

after(async () => {
  if (context) await context.close().catch(() => {});
  for (const p of [gw, ingest, nats]) if (p) await p.stop('SIGTERM');
  if (other) other.close();
  if (dir && !process.env.FV_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  else if (dir) console.error('e2e work dir kept:', dir);
});

// the events the page's own stream machinery received on one of its streams
const received = (stream) => page.evaluate((s) =>
  window.__flovyn.events.filter((e) => e.stream === s), stream);
const isControl = (t) => ['gap', 'end', 'overloaded', 'auth_expired'].includes(t);

describe('demo page', () => {
  test('shows a workflow as it starts, its token output, and its completion', async () => {
    await page.goto(`${gw.base}/?token=${encodeURIComponent(token)}`);
    assert.equal(await page.title(), 'flovyn-events · live workflows');
    // the token left the address bar
    assert.ok(!page.url().includes('token='), page.url());
    await page.waitForSelector('#conn-tenant.live', { timeout: 15000 });
    assert.equal(await page.textContent('#tenant'), TENANT);

    const wf = randomUUID();
    const task = randomUUID();
    const words = 'Hello from a headless browser, token by token.'.split(' ');
    await ingestEvents(ingest.base, token, [
      lifecycle(wf, 'workflow.started', { data: { workflow_type: 'e2e-answer' } }),
      lifecycle(wf, 'task.created', { task }),
      lifecycle(wf, 'task.started', { task }),
    ]);
    await ingestStream(ingest.base, token, wf, tokens(wf, task, 0, words));
    await ingestStream(ingest.base, token, wf, [{
      workflow_execution_id: wf, task_execution_id: task, sequence: words.length,
      type: 'progress', payload: { progress: 0.5, message: 'halfway' }, timestamp_ms: Date.now(),
    }]);

    // the tenant stream lists it; the page follows the first workflow it sees
    const item = page.locator(`li.wf[data-id="${wf}"]`);
    await item.waitFor({ timeout: 15000 });
    assert.match(await item.textContent(), /e2e-answer/);
    assert.match(await item.locator('.badge').textContent(), /running/);
    await until('token output', async () =>
      (await page.textContent('#outputs')).includes(words.join(' ')), 15000);
    assert.match(await page.textContent('#outputs'), /50% · halfway/);
    assert.match(await page.textContent('#timeline'), /task\.started/);

    await ingestEvents(ingest.base, token, [
      lifecycle(wf, 'task.completed', { task, data: { tokens: words.length } }),
      lifecycle(wf, 'workflow.completed', { data: { status: 'ok' } }),
    ]);
    await until('completed badge', async () =>
      /completed/.test(await item.locator('.badge').textContent()), 15000);
    await until('completion in the timeline', async () =>
      (await page.textContent('#timeline')).includes('workflow.completed'), 15000);
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-page.png') });
  });

  test('renders hostile event content as text, never as markup', async () => {
    const wf = randomUUID();
    const task = randomUUID();
    await page.goto(`${gw.base}/?token=${encodeURIComponent(token)}&workflow=${wf}`);
    await page.waitForSelector('#conn-workflow.live', { timeout: 15000 });
    const evil = '<img src=x onerror="window.__xss=1">';
    await ingestEvents(ingest.base, token, [
      lifecycle(wf, 'workflow.started', { data: { workflow_type: evil } }),
      lifecycle(wf, 'task.created', { task, data: { task_type: evil } }),
    ]);
    await ingestStream(ingest.base, token, wf, tokens(wf, task, 0, ['<b>bold</b>', '<script>window.__xss=2</script>']));
    await until('hostile output shown', async () =>
      (await page.textContent('#outputs')).includes('<script>window.__xss=2</script>'), 15000);
    await page.locator(`li.wf[data-id="${wf}"]`).waitFor({ timeout: 15000 });
    assert.match(await page.textContent(`li.wf[data-id="${wf}"]`), /<img src=x/);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('main img, main b, main script').count(), 0);
  });

  test('takes its token from the flovyn_token cookie, and asks for one when there is none', async () => {
    await context.addCookies([{ name: 'flovyn_token', value: token, url: gw.base }]);
    try {
      await page.goto(`${gw.base}/`);
      await page.waitForSelector('#conn-tenant.live', { timeout: 15000 });
      assert.equal(await page.textContent('#tenant'), TENANT);
    } finally {
      await context.clearCookies();
    }
    await page.goto(`${gw.base}/`);
    await until('a request for a token', async () =>
      /no token/.test(await page.textContent('#status')), 10000);
    assert.equal(await page.evaluate(() => window.__flovyn.opens.length), 0);
    // typing one in connects
    await page.fill('#token-input', token);
    await page.click('#token-form button');
    await page.waitForSelector('#conn-tenant.live', { timeout: 15000 });
  });

  test('shows the demo producer\'s run with its child and grandchild workflows', async () => {
    const tenant = 'demo-' + randomUUID().slice(0, 8);
    const tok = mintToken(secret, tenant, '1h');
    await page.goto(`${gw.base}/?token=${encodeURIComponent(tok)}`);
    await page.waitForSelector('#conn-tenant.live', { timeout: 15000 });
    const out = await new Promise((resolve, reject) => execFile(bin('flovyn-bridge'),
      ['demo', '--nats-url', nats.url, '--tenant', tenant, '--workflows', '1', '--rate', '200',
        '--pause', '0s', '--log-level', 'warn'],
      { timeout: 60000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
    const run = JSON.parse(out.trim().split('\n').pop());
    assert.equal(run.tenant_id, tenant);
    assert.equal(run.descendants.length, 2);
    for (const id of [run.workflow_execution_id, ...run.descendants]) {
      await page.locator(`li.wf[data-id="${id}"] .badge`).waitFor({ timeout: 15000 });
      await until(`workflow ${id} completed`, async () =>
        /completed/.test(await page.locator(`li.wf[data-id="${id}"] .badge`).textContent()), 15000);
    }
    // the grandchild is indented two levels below the root
    const depth = await page.locator(`li.wf[data-id="${run.descendants[1]}"]`)
      .evaluate((e) => e.style.getPropertyValue('--depth'));
    assert.equal(depth, '2');
    // the root was followed: its retried task and streamed answer are shown
    await until('root selected with its answer', async () => {
      const tl = await page.textContent('#timeline');
      return tl.includes('retry.scheduled') && tl.includes('workflow.completed');
    }, 15000);
    const timeline = await page.textContent('#timeline');
    assert.ok(timeline.indexOf('task.failed') < timeline.lastIndexOf('task.started'));
    assert.match(await page.textContent('#outputs'), /cursor/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-producer.png') });

    // clicking through the workflows swaps the second stream: never more than two open
    for (const id of [...run.descendants, run.workflow_execution_id]) {
      await page.click(`li.wf[data-id="${id}"]`);
      await page.waitForSelector(`li.wf.selected[data-id="${id}"]`);
      await until('timeline of ' + id, async () =>
        (await page.textContent('#timeline')).includes('workflow.completed'), 15000);
    }
    // (tenant + selected workflow: exactly two, which also shows the counter works)
    assert.equal(await page.evaluate(() => window.__sseMax), 2, 'at most two event streams');

    // with children: the consolidated stream brings the child's and grandchild's output in too
    await page.check('#consolidated');
    await until('descendants\' output', async () => {
      const o = await page.textContent('#outputs');
      return o.includes('Two sources agree') && o.includes('Deux sources concordent');
    }, 15000);
    assert.match(await page.textContent('#timeline'), new RegExp('wf ' + run.descendants[1].slice(0, 8)));
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-consolidated.png') });
  });
});

describe('the page\'s stream of the merged workflow', () => {
  test('resumes across a gateway crash with no loss and no duplicate, and agrees with a raw SSE capture', async () => {
    const wf = randomUUID();
    const task = randomUUID();
    await page.goto(`${gw.base}/?token=${encodeURIComponent(token)}&workflow=${wf}`);
    await page.waitForSelector('#conn-workflow.live', { timeout: 15000 });

    const batch = (from, n) => tokens(wf, task, from, Array.from({ length: n }, (_, i) => 'w' + (from + i)));
    // before the crash
    await ingestEvents(ingest.base, token, [
      lifecycle(wf, 'workflow.started', { data: { workflow_type: 'resume-check' } }),
      lifecycle(wf, 'task.started', { task }),
    ]);
    await ingestStream(ingest.base, token, wf, batch(0, 20));
    await until('first batch in the browser', async () => (await received('workflow')).length >= 22);

    // crash the gateway the browser is connected to; events keep arriving through the other one
    const { sig } = await gw.stop('SIGKILL');
    assert.equal(sig, 'SIGKILL');
    await ingestStream(ingest.base, token, wf, batch(20, 20));
    await ingestEvents(ingest.base, token, [lifecycle(wf, 'task.progressed', { task, data: { p: 0.5 } })]);
    await sleep(500);
    gw = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, port: gw.port, name: 'gateway', args: GW_ARGS });

    // after the restart
    await until('the browser reconnected and caught up', async () => (await received('workflow')).length >= 43, 20000);
    await ingestStream(ingest.base, token, wf, batch(40, 10));
    await ingestEvents(ingest.base, token, [
      lifecycle(wf, 'task.completed', { task }),
      lifecycle(wf, 'workflow.completed'),
    ]);
    await until('everything in the browser', async () => (await received('workflow')).length >= 55, 20000);
    await sleep(300); // a duplicate would show up right behind

    const got = (await received('workflow')).filter((e) => !isControl(e.type));
    const errors = await page.evaluate(() => window.__flovyn.errors);
    assert.ok(errors >= 1, 'the browser saw the connection drop');
    // no duplicate: every cursor once
    assert.equal(new Set(got.map((e) => e.id)).size, got.length, 'duplicate cursor');
    // no loss: every token sequence once, in order, and every lifecycle event in order
    const seqs = got.filter((e) => e.type === 'token').map((e) => JSON.parse(e.data).sequence);
    assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(got.filter((e) => e.type !== 'token').map((e) => e.type),
      ['workflow.started', 'task.started', 'task.progressed', 'task.completed', 'workflow.completed']);
    assert.equal(got.length, 55);
    // what was stored while the gateway was down came after everything from before the crash
    // (the two sources, lifecycle and stream events, are each in order; not ordered between them)
    const before = got.slice(0, 22);
    assert.deepEqual(before.filter((e) => e.type === 'token').map((e) => JSON.parse(e.data).sequence),
      Array.from({ length: 20 }, (_, i) => i));

    // a raw capture of the same stream from the start, parsed by eventsource-parser
    const raw = await readSse(`${gw.base}/v1/workflow-executions/${wf}/stream?close_on_terminal=true&access_token=${encodeURIComponent(token)}`);
    assert.equal(raw.headers['content-type'].split(';')[0], 'text/event-stream');
    assert.ok(raw.retry > 0, 'retry: first');
    assert.equal(raw.events.at(-1).type, 'end');
    const rawEvents = raw.events.filter((e) => !isControl(e.type));
    assert.equal(rawEvents.length, got.length);
    // Event for event, per source: the same stored messages (the cursor's own sequence for that
    // source), the same names, the same data bytes, in the same order. A cursor carries the
    // position in BOTH sources, and the merge order between sources is not part of the contract,
    // so whole cursors and the interleaving may differ between a live session and a replay.
    const STREAM = new Set(['token', 'progress', 'data', 'stream_error']);
    const view = (list, stream) => list.filter((e) => STREAM.has(e.type) === stream).map((e) => {
      assert.match(e.id, /^v1\.\d+\.\d+\.[0-9a-z]+$/);
      return { seq: e.id.split('.')[stream ? 2 : 1], type: e.type, data: e.data };
    });
    for (const stream of [false, true]) {
      const b = view(got, stream);
      const r = view(rawEvents, stream);
      assert.equal(r.length, b.length);
      for (let i = 0; i < b.length; i++) {
        assert.deepEqual(r[i], b[i], `${stream ? 'stream' : 'lifecycle'} event ${i} differs`);
      }
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'resume.png') });
  });
});

describe('token expiry', () => {
  test('an expiring token gets auth_expired on the stream, then the page asks for a new one', async () => {
    const shortTok = mintToken(secret, TENANT, '3s');
    // raw: the server says auth_expired before it closes
    const raw = await readSse(`${gw.base}/v1/events/stream?access_token=${encodeURIComponent(shortTok)}`,
      { timeoutMs: 15000, stopWhen: (evs) => evs.some((e) => e.type === 'auth_expired') });
    assert.ok(raw.events.some((e) => e.type === 'auth_expired'));

    // in the browser (no /demo/token on this gateway): the stream stops and the user is asked
    const tok2 = mintToken(secret, TENANT, '3s');
    await page.goto(`${gw.base}/?token=${encodeURIComponent(tok2)}`);
    await page.waitForSelector('#conn-tenant.live', { timeout: 15000 });
    await until('auth_expired in the page', async () =>
      (await received('tenant')).some((e) => e.type === 'auth_expired'), 15000);
    await until('the page asks for a token', async () =>
      /token expired or rejected/.test(await page.textContent('#status')), 10000);
  });
});

describe('the JavaScript client in a page', () => {
  test('the demo page loads /client.js; it streams, publishes and pages history with the token in a header', async () => {
    const requests = [];
    const onRequest = (r) => requests.push({ url: r.url(), headers: r.headers() });
    page.on('request', onRequest);
    try {
      await page.goto(`${gw.base}/?token=${encodeURIComponent(token)}`);
      await page.waitForSelector('#conn-tenant.live', { timeout: 15000 });
      const wf = randomUUID();
      const out = await page.evaluate(async ({ tok, wf }) => {
        const { FlovynEvents, FlovynEventsError } = await import('/client.js');
        const client = new FlovynEvents({ getToken: async () => tok }); // the page's origin
        const seen = [];
        const states = [];
        const streamed = (async () => {
          for await (const ev of client.stream({
            workflowExecutionId: wf, closeOnTerminal: true, onState: (s) => states.push(s.state),
          })) {
            seen.push({ type: ev.type, id: ev.id, text: ev.data.payload ?? null });
          }
        })();
        await client.publish({ workflow_execution_id: wf, event_type: 'workflow.started', data: {} });
        await client.publishStreamEvents(wf, ['Hello ', 'from ', 'a page'].map((t, i) =>
          ({ sequence: i, type: 'token', payload: t })));
        await client.publish({ workflow_execution_id: wf, event_type: 'workflow.completed', data: {} });
        const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 15000));
        const how = await Promise.race([streamed.then(() => 'ended'), timeout]);
        const first = await client.history({ workflowExecutionId: wf, limit: 1 });
        const second = await client.history({ workflowExecutionId: wf, after: first.next });
        let error = null;
        try {
          await client.publish({ event_type: 'Not.Valid', data: {} });
        } catch (e) {
          error = { cls: e instanceof FlovynEventsError, status: e.status, code: e.code };
        }
        return {
          how, seen, states, error,
          pages: [first.events.map((e) => e.event_type), second.events.map((e) => e.event_type)],
        };
      }, { tok: token, wf });
      assert.equal(out.how, 'ended', JSON.stringify(out));
      assert.deepEqual(out.seen.map((e) => e.type),
        ['workflow.started', 'token', 'token', 'token', 'workflow.completed', 'end']);
      assert.deepEqual(out.seen.filter((e) => e.type === 'token').map((e) => e.text), ['Hello ', 'from ', 'a page']);
      assert.equal(new Set(out.seen.slice(0, 5).map((e) => e.id)).size, 5);
      assert.deepEqual(out.states, ['connecting', 'open', 'closed']);
      assert.deepEqual(out.pages, [['workflow.started'], ['workflow.completed']]);
      assert.deepEqual(out.error, { cls: true, status: 400, code: 'bad_request' });
      // the page's own streams and this one: the token travelled in a header, never in a URL
      const api = requests.filter((r) => r.url.includes('/v1/'));
      // (the demo follows the new workflow too: its stream and this one)
      const sse = api.filter((r) => new URL(r.url).pathname === `/v1/workflow-executions/${wf}/stream`);
      assert.ok(sse.length >= 1);
      for (const r of sse) {
        assert.equal(r.headers.authorization, 'Bearer ' + token);
        assert.equal(r.headers.accept, 'text/event-stream');
      }
      assert.ok(api.length >= 6);
      assert.deepEqual(api.filter((r) => r.url.includes('access_token') || r.url.includes(token)), []);
    } finally {
      page.off('request', onRequest);
    }
  });
});

describe('token renewal', () => {
  test('on auth_expired the page fetches /demo/token and resumes the stream where it was', async () => {
    const wf = randomUUID();
    const task = randomUUID();
    const fresh = mintToken(secret, TENANT, '1h');
    let served = 0;
    // stands in for a gateway in demo mode: the page's renewal path is what is under test
    await page.route('**/demo/token', (route) => {
      served++;
      route.fulfill({ status: 200, contentType: 'application/json',
        body: JSON.stringify({ token: fresh, tenant_id: TENANT, expires_ms: Date.now() + 3600000 }) });
    });
    try {
      const short = mintToken(secret, TENANT, '3s');
      await page.goto(`${gw.base}/?token=${encodeURIComponent(short)}&workflow=${wf}`);
      await page.waitForSelector('#conn-workflow.live', { timeout: 15000 });
      await ingestEvents(ingest.base, token, [lifecycle(wf, 'workflow.started'), lifecycle(wf, 'task.started', { task })]);
      await ingestStream(ingest.base, token, wf, tokens(wf, task, 0, ['a', 'b', 'c']));
      await until('auth_expired on the workflow stream', async () =>
        (await received('workflow')).some((e) => e.type === 'auth_expired'), 15000);
      await ingestStream(ingest.base, token, wf, tokens(wf, task, 3, ['d', 'e']));
      await ingestEvents(ingest.base, token, [lifecycle(wf, 'workflow.completed')]);
      await until('events after the renewal', async () =>
        (await received('workflow')).filter((e) => !isControl(e.type)).length >= 8, 15000);
      await sleep(300);
      const got = (await received('workflow')).filter((e) => !isControl(e.type));
      assert.equal(got.length, 8);
      assert.equal(new Set(got.map((e) => e.id)).size, 8);
      assert.deepEqual(got.filter((e) => e.type === 'token').map((e) => JSON.parse(e.data).payload.text),
        ['a ', 'b ', 'c ', 'd ', 'e ']);
      assert.ok(served >= 1);
      const opens = await page.evaluate(() => window.__flovyn.opens.filter((o) => o.stream === 'workflow'));
      assert.ok(opens.length >= 2 && opens.at(-1).lastId, 'reopened from a cursor: ' + JSON.stringify(opens));
      assert.equal(await page.inputValue('#token-input'), fresh);
    } finally {
      await page.unroute('**/demo/token');
    }
  });
});

describe('CORS', () => {
  // In the page of another origin: an EventSource on the gateway and a POST with a bearer token
  // (which needs a preflight). Resolves with what happened.
  const crossOrigin = (base, tok, wf) => page.evaluate(async ({ base, tok, wf }) => {
    const out = { events: [], sseError: null, post: null };
    const es = new EventSource(`${base}/v1/workflow-executions/${wf}/stream?access_token=${encodeURIComponent(tok)}`);
    es.addEventListener('workflow.started', (e) => out.events.push(e.data));
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) out.sseError = 'closed'; };
    await new Promise((r) => setTimeout(r, 300));
    try {
      const r = await fetch(`${base}/v1/events`, {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + tok, 'Content-Type': 'application/json' },
        body: JSON.stringify({ workflow_execution_id: wf, event_type: 'workflow.started', source: 'cors', data: {} }),
      });
      out.post = r.status;
    } catch (e) {
      out.post = 'blocked';
    }
    const end = Date.now() + 5000;
    while (Date.now() < end && !out.events.length && !out.sseError) await new Promise((r) => setTimeout(r, 50));
    es.close();
    return out;
  }, { base, tok, wf });

  test('an allowed origin streams and posts; another origin is blocked by the browser', async () => {
    await page.goto(`http://127.0.0.1:${other.port}/`);
    const wf = randomUUID();
    const ok = await crossOrigin(gw.base, token, wf);
    assert.ok(ok.post >= 200 && ok.post < 300, `POST from allowed origin: ${ok.post}`);
    assert.equal(ok.events.length, 1, JSON.stringify(ok));
    assert.equal(JSON.parse(ok.events[0]).workflow_execution_id, wf);

    await page.goto(`http://localhost:${other.port}/`);
    const wf2 = randomUUID();
    const no = await crossOrigin(gw.base, token, wf2);
    assert.equal(no.post, 'blocked');
    assert.equal(no.events.length, 0);
    assert.equal(no.sseError, 'closed');
  });
});
