// client.test.mjs - @flovyn/events-client against real flovyn-gateway processes on a real
// nats-server (free ports, temporary store, stopped by pid; tests/support/procs.mjs).
//
// Each test drives the client the way an application does and checks what the application sees:
// every event exactly once and in order across a gateway crash, the replay limit, `overloaded`,
// `auth_expired` and 401s; `gap` and `end`; abort; errors as FlovynEventsError; history pages.
// Events of the two sources (lifecycle, stream events) are each checked in their own order: the
// interleaving of the two is not part of the contract.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import {
  bridgeInit, freePort, lifecycle, mintToken, sleep, startGateway, startNats, tmpdir, tokens, until,
  writeSecret,
} from '../../../tests/support/procs.mjs';
import { FlovynEvents, FlovynEventsError } from '../index.js';

let dir, nats, secret, gw, ingest;
const started = []; // extra gateways, stopped at the end

before(async () => {
  dir = tmpdir('client');
  nats = await startNats(dir);
  bridgeInit(nats.url, dir);
  secret = writeSecret(dir);
  gw = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, name: 'gateway', args: ['--heartbeat', '1s'] });
  // takes ingest while `gw` is down in the restart test
  ingest = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, name: 'ingest' });
});

after(async () => {
  for (const p of [gw, ingest, ...started, nats]) if (p) await p.stop('SIGTERM');
  if (dir && !process.env.FV_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  else if (dir) console.error('client test work dir kept:', dir);
});

const newTenant = () => 't-' + randomUUID().slice(0, 8);

// A client for a fresh tenant (so that tests do not see each other's events) and a producer for
// the same tenant on the ingest gateway.
function tenantClients(base = gw.base, tokenFn) {
  const tenant = newTenant();
  const token = mintToken(secret, tenant, '1h');
  const calls = [];
  const client = new FlovynEvents({
    baseUrl: base,
    getToken: async (info) => {
      calls.push(info.reason);
      return tokenFn ? tokenFn(info, calls.length, tenant) : token;
    },
  });
  const producer = new FlovynEvents({ baseUrl: ingest.base, getToken: async () => token });
  return { tenant, token, client, producer, calls };
}

async function gatewayWith(args, name) {
  const g = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, name, args });
  started.push(g);
  return g;
}

// Iterates a stream until `stop(events)` or the iterator ends; aborts after timeoutMs.
async function take(client, opts, { stop = () => false, timeoutMs = 30000, onEvent, onState } = {}) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events = [];
  const states = [];
  let ended = false;
  try {
    const it = client.stream({
      ...opts,
      signal: ac.signal,
      onState: (s) => {
        states.push(s);
        if (onState) onState(s);
      },
    });
    for await (const ev of it) {
      events.push(ev);
      if (onEvent) await onEvent(ev, events);
      if (stop(events)) break;
    }
    ended = true;
  } finally {
    clearTimeout(timer);
  }
  assert.ok(!ac.signal.aborted, `timed out after ${timeoutMs} ms with ${events.length} events: ` +
    JSON.stringify(states.map((s) => s.reason || s.state)));
  return { events, states, ended };
}

const isStream = (e) => ['token', 'progress', 'data', 'stream_error'].includes(e.type);
const lifecycleTypes = (evs) => evs.filter((e) => !isStream(e) && e.type !== 'gap' && e.type !== 'end').map((e) => e.type);
const seqs = (evs) => evs.filter(isStream).map((e) => e.data.sequence);
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
const reasons = (states) => states.filter((s) => s.state === 'reconnecting').map((s) => s.reason);

function assertOnceEach(events) {
  const ids = events.filter((e) => e.type !== 'end' && e.type !== 'gap').map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'a cursor was delivered twice');
}

async function metric(base, line) {
  const text = await (await fetch(base + '/metrics')).text();
  const hit = text.split('\n').find((l) => l.startsWith(line + ' '));
  return hit ? Number(hit.slice(line.length + 1)) : NaN;
}

describe('streams', () => {
  test('tenant, workflow, consolidated and task streams with types filters', async () => {
    const { client, producer } = tenantClients();
    const wf = randomUUID();
    const child = randomUUID();
    const k1 = randomUUID();
    const k2 = randomUUID();
    const since = Date.now() - 1000;
    await producer.publish([
      lifecycle(wf, 'workflow.started'),
      lifecycle(wf, 'task.started', { task: k1 }),
      lifecycle(wf, 'task.started', { task: k2 }),
      lifecycle(child, 'workflow.started', { parent: wf }),
    ]);
    await producer.publishStreamEvents(wf, tokens(wf, k1, 0, ['a', 'b', 'c']));
    await producer.publishStreamEvents(wf, tokens(wf, k2, 0, ['x']));
    await producer.publishStreamEvents(child, tokens(child, null, 0, ['child']));
    await producer.publish([
      lifecycle(wf, 'task.completed', { task: k1 }),
      lifecycle(wf, 'task.completed', { task: k2 }),
      lifecycle(child, 'workflow.completed'),
      lifecycle(wf, 'workflow.completed'),
    ]);

    // tenant stream: an item without a dot selects the category
    const tenantRun = await take(client, { types: ['task'], since }, { stop: (e) => e.length === 4 });
    assert.deepEqual(lifecycleTypes(tenantRun.events), ['task.started', 'task.started', 'task.completed', 'task.completed']);
    assert.equal(tenantRun.events[0].data.task_execution_id, k1);
    assert.equal(tenantRun.events[0].data.event_type, 'task.started'); // the contract's shape
    assert.match(tenantRun.events[0].id, /^v1\.\d+\.\d+\.[0-9a-f]+$/);
    assert.equal(tenantRun.events[0].raw, JSON.stringify(tenantRun.events[0].data));

    // workflow stream, tokens and the terminal type only; ends with `end`
    const wfRun = await take(client, { workflowExecutionId: wf, types: 'token,workflow.completed', closeOnTerminal: true });
    assert.deepEqual(wfRun.events.map((e) => e.type), ['token', 'token', 'token', 'token', 'workflow.completed', 'end']);
    assert.deepEqual(wfRun.events.filter(isStream).map((e) => e.data.payload.text), ['a ', 'b ', 'c ', 'x ']);

    // consolidated: the child's events come along
    const cons = await take(client, { workflowExecutionId: wf, consolidated: true, types: ['workflow', 'tokens'] },
      { stop: (e) => e.some((x) => x.type === 'token' && x.data.workflow_execution_id === child) && lifecycleTypes(e).length === 4 });
    assert.deepEqual(lifecycleTypes(cons.events), ['workflow.started', 'workflow.started', 'workflow.completed', 'workflow.completed']);
    assert.deepEqual([...new Set(cons.events.map((e) => e.data.workflow_execution_id))].sort(), [wf, child].sort());

    // task stream: that task only, its lifecycle and its tokens, up to `end`
    const taskRun = await take(client, { taskExecutionId: k1, closeOnTerminal: true });
    assert.deepEqual(lifecycleTypes(taskRun.events), ['task.started', 'task.completed']);
    assert.deepEqual(seqs(taskRun.events), [0, 1, 2]);
    assert.ok(taskRun.events.every((e) => e.type === 'end' || e.data.task_execution_id === k1));
    assert.equal(taskRun.events.at(-1).type, 'end');

    // bad combinations are refused before any request
    await assert.rejects(client.stream({ workflowExecutionId: wf, taskExecutionId: k1 }).next(), TypeError);
    await assert.rejects(client.stream({ consolidated: true }).next(), TypeError);
    // the server judges ids: a bad one is its 400, surfaced as the error class
    await assert.rejects(client.stream({ workflowExecutionId: 'a.b' }).next(),
      (e) => e instanceof FlovynEventsError && e.status === 400 && /workflow_execution_id/.test(e.message));
  });

  test('resumes across a gateway SIGKILL and restart: every event once, in order', async () => {
    const { client, producer } = tenantClients();
    const wf = randomUUID();
    const task = randomUUID();
    await producer.publish([lifecycle(wf, 'workflow.started'), lifecycle(wf, 'task.started', { task })]);
    await producer.publishStreamEvents(wf, tokens(wf, task, 0, range(0, 20).map(String)));
    let crashed = false;
    const run = await take(client, { workflowExecutionId: wf, closeOnTerminal: true }, {
      onEvent: async (ev, events) => {
        if (events.length !== 22 || crashed) return;
        crashed = true;
        const { sig } = await gw.stop('SIGKILL');
        assert.equal(sig, 'SIGKILL');
        // stored while the gateway is down
        await producer.publishStreamEvents(wf, tokens(wf, task, 20, range(20, 40).map(String)));
        await producer.publish([lifecycle(wf, 'task.progressed', { task })]);
        await sleep(300);
        gw = await startGateway({ dir, natsUrl: nats.url, secretFile: secret, port: gw.port, name: 'gateway', args: ['--heartbeat', '1s'] });
        await producer.publishStreamEvents(wf, tokens(wf, task, 40, range(40, 50).map(String)));
        await producer.publish([lifecycle(wf, 'task.completed', { task }), lifecycle(wf, 'workflow.completed')]);
      },
    });
    assert.ok(crashed);
    assert.ok(reasons(run.states).length >= 1, 'the client saw the drop');
    assert.ok(run.states.filter((s) => s.state === 'open').length >= 2);
    assertOnceEach(run.events);
    assert.deepEqual(seqs(run.events), range(0, 50));
    assert.deepEqual(lifecycleTypes(run.events),
      ['workflow.started', 'task.started', 'task.progressed', 'task.completed', 'workflow.completed']);
    assert.equal(run.events.at(-1).type, 'end');
    // every reconnect after the crash asked for the last event the application had seen
    const opens = run.states.filter((s) => s.state === 'connecting');
    assert.equal(opens[0].lastEventId, '');
    assert.ok(opens.slice(1).every((s) => s.lastEventId === run.events[21].id),
      JSON.stringify(opens.map((s) => s.lastEventId)));
  });

  test('the replay limit closes with a short retry: the client continues where it stopped', async () => {
    const g = await gatewayWith(['--replay-limit', '10'], 'replay-limit');
    const { client, producer } = tenantClients(g.base);
    const wf = randomUUID();
    await producer.publish(lifecycle(wf, 'workflow.started'));
    await producer.publishStreamEvents(wf, tokens(wf, null, 0, range(0, 35).map(String)));
    await producer.publish(lifecycle(wf, 'workflow.completed'));
    const t0 = Date.now();
    const run = await take(client, { workflowExecutionId: wf, closeOnTerminal: true });
    assertOnceEach(run.events);
    assert.deepEqual(seqs(run.events), range(0, 35));
    assert.deepEqual(lifecycleTypes(run.events), ['workflow.started', 'workflow.completed']);
    // 37 events in steps of at most 10: at least four connections, each resumed after the
    // server's short retry (250 ms), not the 2 s it announces when a stream opens
    const waits = run.states.filter((s) => s.state === 'reconnecting');
    assert.ok(waits.length >= 3, JSON.stringify(waits));
    assert.ok(waits.every((w) => w.reason === 'closed' && w.delayMs === 250), JSON.stringify(waits));
    assert.ok(Date.now() - t0 < 10000);
  });

  test('overloaded (a consumer too slow for the live stream) resumes without loss', async () => {
    const g = await gatewayWith(['--queue-bytes', '4096'], 'tiny-queue');
    const { client, producer } = tenantClients(g.base);
    const wf = randomUUID();
    const N = 600;
    const pad = 'p'.repeat(8000); // ~5 MB in all: more than the socket buffers hold
    await producer.publish(lifecycle(wf, 'workflow.started'));
    const run = await take(client, { workflowExecutionId: wf }, {
      stop: (e) => e.length === N + 1,
      onEvent: async (ev, events) => {
        if (events.length !== 1) return;
        for (let i = 0; i < N; i += 50) {
          await producer.publishStreamEvents(wf, range(i, i + 50).map((s) => ({
            workflow_execution_id: wf, sequence: s, type: 'data', payload: { pad },
          })));
        }
        await sleep(3000); // not reading: the gateway's queue fills and it gives up on us
      },
    });
    const over = run.states.filter((s) => s.reason === 'overloaded');
    assert.equal(over.length, 1, JSON.stringify(reasons(run.states)));
    // the wait is the server's own hint, sent as `retry:` and in the event's data
    assert.equal(over[0].data.reason, 'slow_client');
    assert.equal(over[0].delayMs, over[0].data.retry_ms);
    assert.equal(await metric(g.base, 'flovyn_gateway_slow_client_disconnects_total'), 1);
    assertOnceEach(run.events);
    assert.deepEqual(seqs(run.events), range(0, N));
  });

  test('overloaded at connect (stream limit) waits for the server\'s retry, then streams', async () => {
    const g = await gatewayWith(['--max-connections-per-tenant', '1'], 'one-stream');
    const { client, producer } = tenantClients(g.base);
    const wf = randomUUID();
    await producer.publish([lifecycle(wf, 'workflow.started'), lifecycle(wf, 'workflow.completed')]);
    // the tenant's one stream is taken
    const hold = new AbortController();
    const holder = (async () => {
      for await (const ev of client.stream({ signal: hold.signal })) void ev;
    })();
    await until('the first stream to open', async () =>
      (await metric(g.base, 'flovyn_gateway_open_streams{endpoint="tenant"}')) === 1);
    let refusedAt = 0;
    const run = await take(client, { workflowExecutionId: wf, closeOnTerminal: true }, {
      onState: (st) => {
        if (st.reason !== 'overloaded') return;
        refusedAt = Date.now();
        hold.abort(); // frees the place
      },
    });
    await holder;
    const over = run.states.find((st) => st.reason === 'overloaded');
    assert.ok(over, JSON.stringify(run.states));
    assert.equal(over.data.reason, 'too_many_streams');
    assert.ok(over.data.retry_ms >= 1000);
    assert.equal(over.delayMs, over.data.retry_ms);
    assert.ok(Date.now() - refusedAt >= over.data.retry_ms - 50, 'came back before the server said');
    assert.deepEqual(run.events.map((e) => e.type), ['workflow.started', 'workflow.completed', 'end']);
  });

  test('auth_expired: getToken() is asked again and the stream continues without loss', async () => {
    let long;
    const { client, producer, calls } = tenantClients(gw.base, (info, n, t) =>
      (n === 1 ? mintToken(secret, t, '3s') : (long ||= mintToken(secret, t, '1h'))));
    const wf = randomUUID();
    await producer.publish(lifecycle(wf, 'workflow.started'));
    await producer.publishStreamEvents(wf, tokens(wf, null, 0, ['a', 'b', 'c']));
    let after = false;
    const run = await take(client, { workflowExecutionId: wf, closeOnTerminal: true }, {
      onState: (st) => {
        if (st.reason !== 'auth_expired' || after) return;
        after = true;
        // stored between the old token's end and the new one's first connection
        producer.publishStreamEvents(wf, tokens(wf, null, 3, ['d', 'e']))
          .then(() => producer.publish(lifecycle(wf, 'workflow.completed')));
      },
    });
    assert.ok(after, 'auth_expired was seen');
    assert.deepEqual(calls, ['initial', 'auth_expired']);
    assertOnceEach(run.events);
    assert.deepEqual(run.events.filter(isStream).map((e) => e.data.payload.text), ['a ', 'b ', 'c ', 'd ', 'e ']);
    assert.deepEqual(lifecycleTypes(run.events), ['workflow.started', 'workflow.completed']);
    // the reconnect came straight away (no backoff) from the last event seen
    const wait = run.states.find((st) => st.reason === 'auth_expired');
    assert.equal(wait.delayMs, 0);
    assert.equal(wait.lastEventId, run.events.filter(isStream)[2].id);
  });

  test('HTTP 401: a fresh token is asked for; a token that stays refused, or a 403, throws', async () => {
    // the first token is garbage, the second is good
    const a = tenantClients(gw.base, (info, n, t) => (n === 1 ? 'not-a-jwt' : mintToken(secret, t, '1h')));
    const wf = randomUUID();
    await a.producer.publish([lifecycle(wf, 'workflow.started'), lifecycle(wf, 'workflow.completed')]);
    const run = await take(a.client, { workflowExecutionId: wf, closeOnTerminal: true });
    assert.deepEqual(a.calls, ['initial', 'unauthorized']);
    assert.deepEqual(reasons(run.states), ['unauthorized']);
    assert.deepEqual(run.events.map((e) => e.type), ['workflow.started', 'workflow.completed', 'end']);

    // never a good token: a bounded number of tries, then the error with the server's body
    const b = tenantClients(gw.base, () => 'not-a-jwt');
    await assert.rejects(take(b.client, { workflowExecutionId: wf }), (e) =>
      e instanceof FlovynEventsError && e.status === 401 && e.code === 'unauthorized' &&
      /not a compact JWT/.test(e.body.error.message));
    assert.equal(b.calls.length, 3);

    // a token without events:read is not a token problem: no retry
    const c = tenantClients(gw.base, (info, n, t) => mintToken(secret, t, '1h', ['--scope', 'events:write']));
    await assert.rejects(take(c.client, { workflowExecutionId: wf }), (e) =>
      e instanceof FlovynEventsError && e.status === 403 && e.code === 'forbidden');
    assert.deepEqual(c.calls, ['initial']);
  });

  test('gap is surfaced with its cursor: for an unknown epoch, and when the bus was restarted', async () => {
    const { client, producer } = tenantClients();
    const wf = randomUUID();
    await producer.publish([lifecycle(wf, 'workflow.started'), lifecycle(wf, 'workflow.completed')]);
    const { next } = await client.history({ workflowExecutionId: wf });
    const stale = next.replace(/\.[0-9a-f]+$/, '.1');
    const run = await take(client, { workflowExecutionId: wf, lastEventId: stale, closeOnTerminal: true });
    assert.deepEqual(run.events.map((e) => e.type), ['gap', 'workflow.started', 'workflow.completed', 'end']);
    assert.equal(run.events[0].data.requested, stale);
    assert.equal(run.events[0].id, run.events[0].data.resumed_from);
    assert.equal(run.states[0].lastEventId, stale);

    // a gateway on its memory bus forgets everything when it restarts (a new epoch): the client
    // resumes with its old cursor and is told so by a gap, then gets what the new one has
    const mem = await startGateway({ dir, secretFile: secret, name: 'memory', args: ['--heartbeat', '1s'] });
    started.push(mem);
    const m = tenantClients(mem.base);
    const token = m.token;
    const pub = (base, evs) => new FlovynEvents({ baseUrl: base, getToken: async () => token }).publish(evs);
    const w2 = randomUUID();
    await pub(mem.base, [lifecycle(w2, 'workflow.started'), lifecycle(w2, 'task.started', { task: randomUUID() })]);
    let restarted = null;
    const memRun = await take(m.client, { workflowExecutionId: w2, closeOnTerminal: true }, {
      onEvent: async (ev, events) => {
        if (events.length !== 2) return;
        await mem.stop('SIGKILL');
        restarted = await startGateway({ dir, secretFile: secret, port: mem.port, name: 'memory', args: ['--heartbeat', '1s'] });
        started.push(restarted);
        await pub(restarted.base, [lifecycle(w2, 'workflow.completed')]);
      },
    });
    assert.deepEqual(memRun.events.map((e) => e.type), ['workflow.started', 'task.started', 'gap', 'workflow.completed', 'end']);
    assert.equal(memRun.events[2].data.requested, memRun.events[1].id);
    assert.notEqual(memRun.events[3].id.split('.')[3], memRun.events[1].id.split('.')[3], 'a new epoch');
  });

  test('end ends the iterator after the terminal event', async () => {
    const { client, producer } = tenantClients();
    const wf = randomUUID();
    await producer.publish(lifecycle(wf, 'workflow.started'));
    const run = await take(client, { workflowExecutionId: wf, closeOnTerminal: true }, {
      onEvent: async (ev, events) => {
        if (events.length === 1) await producer.publish(lifecycle(wf, 'workflow.completed', { data: { ok: true } }));
      },
    });
    assert.ok(run.ended);
    assert.deepEqual(run.events.map((e) => e.type), ['workflow.started', 'workflow.completed', 'end']);
    assert.deepEqual(run.events[2].data, { reason: 'terminal' });
    assert.deepEqual(run.states.at(-1), { state: 'closed', reason: 'end', lastEventId: run.events[1].id });
    assert.deepEqual(reasons(run.states), []);
  });

  test('abort: the iterator ends quietly while waiting for events, while backing off, and before starting', async () => {
    const { client, producer } = tenantClients();
    const wf = randomUUID();
    await producer.publish(lifecycle(wf, 'workflow.started'));
    const open = () => metric(gw.base, 'flovyn_gateway_open_streams{endpoint="workflow"}');
    const before0 = await open();
    const ac = new AbortController();
    const states = [];
    const got = [];
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 1500);
    for await (const ev of client.stream({ workflowExecutionId: wf, signal: ac.signal, onState: (s) => states.push(s) })) {
      got.push(ev.type);
    }
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual(got, ['workflow.started']);
    assert.deepEqual(states.at(-1).reason, 'aborted');
    // the connection is gone from the server too
    await until('the gateway to drop the stream', async () => (await open()) === before0, 5000);

    // nothing listens on this port: the client backs off; the abort cuts the wait short
    const port = await freePort();
    const down = new FlovynEvents({ baseUrl: `http://127.0.0.1:${port}`, getToken: async () => 'x', retryMs: 10000 });
    const ac2 = new AbortController();
    const st2 = [];
    const t1 = Date.now();
    const it = down.stream({ signal: ac2.signal, onState: (s) => {
      st2.push(s);
      if (s.state === 'reconnecting') setTimeout(() => ac2.abort(), 100);
    } });
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    assert.ok(Date.now() - t1 < 3000);
    assert.deepEqual(st2.map((s) => s.reason || s.state), ['connecting', 'network', 'aborted']);

    // already aborted: no request at all
    let fetched = 0;
    const counting = new FlovynEvents({ baseUrl: gw.base, getToken: async () => 'x', fetch: (...a) => { fetched++; return fetch(...a); } });
    const it3 = counting.stream({ signal: AbortSignal.abort() });
    assert.deepEqual(await it3.next(), { value: undefined, done: true });
    assert.equal(fetched, 0);

    // and `break` closes the connection as well
    const before1 = await open();
    for await (const ev of client.stream({ workflowExecutionId: wf })) {
      void ev;
      assert.equal(await open(), before1 + 1);
      break;
    }
    await until('the gateway to drop the stream after break', async () => (await open()) === before1, 5000);
  });

  test('a silent connection is given up after idleTimeoutMs and resumed', async () => {
    const g = await gatewayWith(['--heartbeat', '60s'], 'slow-heartbeat');
    const tenant = newTenant();
    const token = mintToken(secret, tenant, '1h');
    const client = new FlovynEvents({ baseUrl: g.base, getToken: async () => token, idleTimeoutMs: 600 });
    const wf = randomUUID();
    await client.publish(lifecycle(wf, 'workflow.started'));
    const run = await take(client, { workflowExecutionId: wf, closeOnTerminal: true }, {
      onState: (st) => {
        if (st.reason === 'idle' && st.lastEventId) client.publish(lifecycle(wf, 'workflow.completed'));
      },
    });
    assert.ok(reasons(run.states).includes('idle'));
    assert.deepEqual(run.events.map((e) => e.type), ['workflow.started', 'workflow.completed', 'end']);
  });
});

describe('publish and history', () => {
  test('errors come as FlovynEventsError with the status and the server\'s body', async () => {
    const { client, calls, tenant } = tenantClients(gw.base, (info, n, t) => (n === 1 ? 'not-a-jwt' : mintToken(secret, t, '1h')));
    // one bad item of one: 400 with the per-item reason
    await assert.rejects(client.publish([{ event_type: 'Bad', workflow_execution_id: 'wf-1', data: {} }]), (e) => {
      assert.ok(e instanceof FlovynEventsError);
      assert.ok(e instanceof Error);
      assert.equal(e.name, 'FlovynEventsError');
      assert.equal(e.status, 400);
      assert.equal(e.code, 'bad_request');
      assert.match(e.body.results[0].error.message, /event_type/);
      assert.match(e.message, /^POST \/v1\/events: HTTP 400 bad_request: event_type/);
      return true;
    });
    // the garbage first token was refused with 401 and replaced once, transparently
    assert.deepEqual(calls, ['initial', 'unauthorized']);
    // another tenant in the body: rejected item; a good one beside it is stored (202)
    const r = await client.publish([
      { event_type: 'task.completed', workflow_execution_id: 'wf-1', data: {} },
      { event_type: 'task.completed', workflow_execution_id: 'wf-1', tenant_id: 'someone-else', data: {} },
    ]);
    assert.equal(r.results.length, 2);
    assert.ok(r.results[0].seq > 0 && r.results[0].duplicate === false);
    assert.match(r.results[1].error.message, /tenant/);
    const h = await client.history({ workflowExecutionId: 'wf-1' });
    assert.equal(h.events.length, 1);
    assert.equal(h.events[0].tenant_id, tenant);
    await assert.rejects(client.history({ limit: 0 }), (e) => e instanceof FlovynEventsError && e.status === 400 && /limit/.test(e.message));
    await assert.rejects(client.publishStreamEvents('wf-1', [{ sequence: 1, type: 'nope', payload: 1 }]),
      (e) => e instanceof FlovynEventsError && e.status === 400);
    // a token that stays refused: the 401 itself
    const bad = new FlovynEvents({ baseUrl: gw.base, getToken: async () => 'not-a-jwt' });
    await assert.rejects(bad.publish({ event_type: 'task.completed', data: {} }), (e) => e.status === 401 && e.code === 'unauthorized');
  });

  test('history pages with `next` cover every event exactly once, in order', async () => {
    const { client, producer } = tenantClients();
    const all = [];
    for (let i = 0; i < 25; i++) {
      const wf = randomUUID();
      all.push(lifecycle(wf, i % 3 ? 'task.started' : 'workflow.started', { task: i % 3 ? randomUUID() : null, data: { i } }));
    }
    await producer.publish(all.slice(0, 13));
    await producer.publish(all.slice(13));
    const seen = [];
    let after;
    let pages = 0;
    for (;;) {
      const { events, next } = await client.history({ after, limit: 7 });
      pages++;
      seen.push(...events);
      assert.match(next, /^v1\./);
      if (events.length) assert.equal(next, events.at(-1).cursor);
      after = next;
      if (events.length < 7) break;
    }
    assert.equal(pages, 4);
    assert.deepEqual(seen.map((e) => e.id), all.map((e) => e.id));
    // a filtered history pages the same way
    const tasks = [];
    after = undefined;
    for (let n = 0; n < 10; n++) {
      const { events, next } = await client.history({ types: ['task.started'], after, limit: 5 });
      tasks.push(...events);
      after = next;
      if (!events.length) break;
    }
    assert.deepEqual(tasks.map((e) => e.id), all.filter((e) => e.event_type === 'task.started').map((e) => e.id));
    // and a stream can continue from a history cursor
    const mid = seen[9].cursor;
    const rest = await take(client, { lastEventId: mid, types: 'events' }, { stop: (e) => e.length === 15 });
    assert.deepEqual(rest.events.map((e) => e.data.id), all.slice(10).map((e) => e.id));
  });
});
