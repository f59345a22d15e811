// cluster.test.mjs - flovyn-events on a 3-node NATS cluster, as deployed: TLS everywhere (client
// certificates for the daemons, TLS routes), streams and buckets with 3 replicas, one bridge, two
// gateways connected to different nodes, SSE clients on both (the JavaScript client), a producer
// ingesting through both gateways and retrying with the same ids, a webhook subscription.
//
// While events flow: the leader of FLOVYN_EVENTS is SIGKILLed and restarted, one gateway is
// SIGKILLed and restarted, the node leading the webhook's consumer is SIGKILLed and restarted.
// Then every client has every event exactly once and in order, a batch ingested again after the
// leader change is recognised as duplicates, the webhook received every event, and every stream
// and bucket still has 3 replicas after every daemon and command ran (some without --replicas).
// The failover figures (election, ingest refused, /readyz answer times) are printed as `# figure`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  bin, freePort, lifecycle, mintToken, sleep, start, startGateway, tmpdir, until, writeSecret,
} from '../support/procs.mjs';
import { FlovynEvents } from '../../gateway/client-js/index.js';
import {
  leaderOf, makeCerts, nodeOfClient, startCluster, streams, tlsArgs,
} from './cluster.mjs';

let dir, certs, cluster, secret, bridge, gwA, gwB, hook;
const tenant = 't-' + randomUUID().slice(0, 8);
const workflow = 'wf-' + randomUUID().slice(0, 8);
const figures = [];
const figure = (name, value) => { figures.push(`${name} ${value}`); console.log(`# figure ${name} ${value}`); };

// runs a flovyn-bridge command against the cluster (TLS), resolving { code, stdout, stderr }
function bridgeCmd(args, { tls = true, url } = {}) {
  return new Promise((resolve) => {
    execFile(bin('flovyn-bridge'), [...args, '--nats-url', url || cluster.urls(),
      ...(tls ? tlsArgs(certs) : [])],
    { timeout: 30000, env: { ...process.env, FLOVYN_LOG_LEVEL: 'warn' } },
    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

// What a gateway logged above info level (the last 40 lines), for a failure message.
function gatewayWarnings(name) {
  try {
    const lines = fs.readFileSync(path.join(dir, `${name}.log`), 'utf8').split('\n')
      .filter((l) => /"level":"(warn|error)"/.test(l));
    return `${name} warnings:\n${lines.slice(-40).join('\n')}`;
  } catch (e) {
    return `${name} log unreadable: ${e.message}`;
  }
}

// With FV_STACKS=1 and gdb installed, every thread's stack of a stuck gateway, for a failure
// message (a debugging aid: gdb is not one of the test command's dependencies).
function gatewayStacks(g) {
  if (!process.env.FV_STACKS) return '';
  return new Promise((resolve) => {
    execFile('gdb', ['-p', String(g.pid), '-batch', '-ex', 'thread apply all bt'],
      { timeout: 60000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve(`${g.name} stacks:\n${stdout || ''}${err ? `gdb: ${err.message} ${stderr}` : ''}`));
  });
}

// A webhook receiver: CloudEvents batches, every event id recorded with when it came.
function startHook() {
  const got = new Map();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try {
        for (const ev of JSON.parse(body)) if (!got.has(ev.id)) got.set(ev.id, Date.now());
        res.writeHead(200).end();
      } catch (e) {
        res.writeHead(400).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, got, url: `http://127.0.0.1:${server.address().port}/hook` });
  }));
}

before(async () => {
  dir = tmpdir('cluster');
  certs = makeCerts(dir);
  cluster = await startCluster(dir, certs);
  const init = await bridgeCmd(['init', '--replicas', '3']);
  assert.equal(init.code, 0, init.stderr);
  secret = writeSecret(dir);
  const [n1, n2, n3] = cluster.nodes;
  const httpPort = await freePort();
  bridge = start('bridge', bin('flovyn-bridge'),
    ['run', '--nats-url', cluster.urls([n3, n1, n2]), '--replicas', '3', '--allow-private',
      '--http-addr', `127.0.0.1:${httpPort}`, ...tlsArgs(certs)], path.join(dir, 'bridge.log'));
  await until('the bridge to be ready', async () => {
    try { return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok; } catch (e) { return false; }
  }, 30000, 200);
  // each gateway is given one node and learns the others from the cluster; gateway B provisions
  // at start without --replicas (it must not lower them)
  gwA = await startGateway({ dir, natsUrl: n1.url, secretFile: secret, name: 'gwA', args: tlsArgs(certs) });
  gwB = await startGateway({
    dir, natsUrl: n2.url, secretFile: secret, name: 'gwB', args: [...tlsArgs(certs), '--provision'],
  });
  hook = await startHook();
  const hookSecret = path.join(dir, 'hook.secret');
  fs.writeFileSync(hookSecret, 'whsec_' + Buffer.from(randomUUID()).toString('base64') + '\n');
  const add = await bridgeCmd(['subscriptions', 'add', '--tenant', tenant, '--url', hook.url,
    '--secret-file', hookSecret, '--name', 'cluster-hook', '--allow-private']);
  assert.equal(add.code, 0, add.stderr);
});

after(async () => {
  for (const p of [gwA, gwB, bridge]) if (p) await p.stop('SIGTERM');
  if (cluster) await cluster.stop();
  if (hook) hook.server.close();
  if (dir && !process.env.FV_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  else if (dir) console.error('cluster test work dir kept:', dir);
});

test('TLS to NATS: a wrong CA, no client certificate, or a certificate without its key is refused', async () => {
  const base = ['subscriptions', 'list'];
  const good = await bridgeCmd(base);
  assert.equal(good.code, 0, `with the right certificates: ${good.stderr}`);
  const other = await bridgeCmd([...base, '--nats-tls-ca', certs.otherCa,
    '--nats-tls-cert', certs.clientCert, '--nats-tls-key', certs.clientKey], { tls: false });
  assert.equal(other.code, 1, 'a server certificate the CA did not sign');
  assert.match(other.stderr, /connect|SSL|certificate|TLS/i);
  const noCert = await bridgeCmd([...base, '--nats-tls-ca', certs.ca], { tls: false });
  assert.equal(noCert.code, 1, 'the cluster requires client certificates');
  const plain = await bridgeCmd(base, { tls: false, url: cluster.nodes[0].url.replace('tls://', 'nats://') });
  assert.equal(plain.code, 1, 'no TLS at all');
  const half = await bridgeCmd([...base, '--nats-tls-ca', certs.ca, '--nats-tls-cert', certs.clientCert], { tls: false });
  assert.equal(half.code, 2, 'a certificate without its key is a usage error');
  assert.match(half.stderr, /nats-tls-cert and nats-tls-key/);
});

test('leader, gateway and webhook-node failures lose nothing and duplicate nothing', { timeout: 240000 }, async () => {
  const [n1, n2, n3] = cluster.nodes;
  const token = mintToken(secret, tenant, '1h');
  const startMs = Date.now() - 1000;
  // gateways on different nodes
  await until('the gateways on their nodes', async () => {
    const conns = await Promise.all(cluster.nodes.map(async (n) => {
      const r = await fetch(`${n.mon}/connz?limit=1000`).then((x) => x.json()).catch(() => ({}));
      return (r.connections || []).filter((c) => c.name === 'flovyn-gateway').length;
    }));
    return conns[0] >= 1 && conns[1] >= 1;
  }, 10000, 200);

  // --- readers: the tenant stream and the workflow stream on each gateway ---
  const readers = [];
  const abort = new AbortController();
  for (const g of [gwA, gwB]) {
    for (const kind of ['tenant', 'workflow']) {
      const client = new FlovynEvents({ baseUrl: g.base, getToken: async () => token, retryMs: 200, maxRetryMs: 1000 });
      const r = { name: `${g.name}-${kind}`, ids: [], other: [] };
      const opts = kind === 'tenant' ? { since: startMs } : { workflowExecutionId: workflow, since: startMs };
      r.done = (async () => {
        for await (const ev of client.stream({ ...opts, signal: abort.signal })) {
          if (ev.data && ev.data.id) r.ids.push(ev.data.id); else r.other.push(ev.type);
        }
      })().catch((e) => { if (!abort.signal.aborted) r.error = e; });
      readers.push(r);
    }
  }

  // --- the producer: sequential batches through both gateways, retried with the same ids ---
  const published = []; // ids in the order they were acknowledged
  const attempts = []; // { t0, t1, ok }
  let firstBatch = null;
  let producing = true;
  let batchNo = 0;
  const producer = (async () => {
    while (producing) {
      const batch = [];
      for (let i = 0; i < 5; i++) batch.push(lifecycle(workflow, 'step.done', { data: { n: published.length + batch.length } }));
      let k = batchNo++;
      for (;;) {
        const g = [gwA, gwB][k++ % 2];
        const t0 = Date.now();
        let ok = false, retryMs = 100;
        try {
          const r = await fetch(g.base + '/v1/events', {
            method: 'POST', body: JSON.stringify(batch), signal: AbortSignal.timeout(10000),
            headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
          });
          const body = await r.json().catch(() => ({}));
          ok = r.status === 202 && body.results.every((x) => x.seq > 0);
          if (!ok && r.headers.get('retry-after')) retryMs = 100;
        } catch (e) { /* gateway down: the other one next */ }
        attempts.push({ t0, t1: Date.now(), ok });
        if (ok) break;
        await sleep(retryMs);
      }
      if (!firstBatch) firstBatch = batch;
      for (const e of batch) published.push(e.id);
      await sleep(40);
    }
  })();
  const waitPublished = (n) => until(`${n} events published`, () => published.length >= n, 30000, 20);

  // /readyz answer times on both gateways, all along
  const readyTimes = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      for (const g of [gwA, gwB]) {
        const t0 = Date.now();
        try { await fetch(g.base + '/readyz', { signal: AbortSignal.timeout(10000) }); readyTimes.push(Date.now() - t0); } catch (e) { /* restarting */ }
      }
      await sleep(100);
    }
  })();

  await waitPublished(50);

  // --- 1. the stream leader dies mid-stream ---
  const leaderName = await leaderOf(cluster.nodes, 'FLOVYN_EVENTS');
  assert.ok(leaderName, 'FLOVYN_EVENTS has a leader');
  const leader = cluster.nodes.find((n) => n.name === leaderName);
  const survivors = cluster.nodes.filter((n) => n !== leader);
  const killedAt = Date.now();
  await cluster.kill(leader);
  let newLeader;
  await until('a new leader', async () => {
    newLeader = await leaderOf(survivors, 'FLOVYN_EVENTS');
    return newLeader && newLeader !== leaderName;
  }, 30000, 50);
  const electedAt = Date.now();
  const before = published.length;
  await until('ingest after the election', () => published.length > before, 30000, 20);
  const firstOk = attempts.find((a) => a.ok && a.t1 >= killedAt);
  const refused = attempts.filter((a) => !a.ok && a.t0 >= killedAt).length;
  figure('election_ms', electedAt - killedAt);
  figure('ingest_ok_after_kill_ms', firstOk.t1 - killedAt);
  figure('ingest_ok_after_election_ms', Math.max(0, firstOk.t1 - electedAt));
  figure('ingest_attempts_refused', refused);
  // the same batch again, after the leader change: stored once
  const again = await fetch(gwB.base + '/v1/events', {
    method: 'POST', body: JSON.stringify(firstBatch),
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
  });
  assert.equal(again.status, 202);
  const againBody = await again.json();
  assert.ok(againBody.results.every((x) => x.duplicate === true), JSON.stringify(againBody));
  await cluster.startNode(leader);
  await waitPublished(published.length + 50);

  // --- 2. a gateway dies and comes back on its port ---
  await gwA.stop('SIGKILL');
  await waitPublished(published.length + 25);
  gwA = await startGateway({ dir, natsUrl: n1.url, secretFile: secret, name: 'gwA', port: gwA.port, args: tlsArgs(certs) });
  await waitPublished(published.length + 50);

  // --- 3. the node leading the webhook's consumer dies ---
  const hookLeaderName = await until('the webhook consumer leader',
    () => leaderOf(cluster.nodes, 'FLOVYN_EVENTS', 'webhook_cluster-hook'), 15000, 100);
  const hookNode = cluster.nodes.find((n) => n.name === hookLeaderName);
  const bridgeNode = await nodeOfClient(cluster.nodes, 'flovyn-bridge run');
  console.log(`# webhook consumer led by ${hookLeaderName}; bridge connected to ${bridgeNode ? bridgeNode.name : '?'}`);
  await cluster.kill(hookNode);
  const afterHookKill = published.length;
  await waitPublished(published.length + 75);
  const idsAfterHookKill = published.slice(afterHookKill);
  await cluster.startNode(hookNode);

  producing = false;
  await producer;
  // every reader gets everything, once, in the order it was stored
  for (const r of readers) {
    await until(`${r.name} to have ${published.length} events`, () => r.error || r.ids.length >= published.length, 60000, 100)
      .catch(async (e) => {
        const gw = r.name.startsWith('gwA') ? gwA : gwB;
        const metrics = await fetch(gw.base + '/metrics').then((x) => x.text()).catch((m) => `unreadable: ${m}`);
        const live = metrics.split('\n').filter((l) => /^flovyn_gateway_(live|catchups|open_streams|window|events_delivered|nats|gaps|skipped|shared_reads|read_events)/.test(l));
        const got = new Set(r.ids);
        const missing = published.map((id, i) => (got.has(id) ? -1 : i)).filter((i) => i >= 0);
        throw new Error(`${e.message}: has ${r.ids.length}; missing indexes ${missing.slice(0, 20).join(',')}` +
          `${missing.length > 20 ? ',...' : ''} (last received ${r.ids.length ? published.indexOf(r.ids[r.ids.length - 1]) : -1}; ` +
          `other events: ${r.other.join(',') || 'none'})\n${gatewayWarnings(r.name.split('-')[0])}\n` +
          `all readers: ${readers.map((x) => `${x.name}=${x.ids.length}`).join(' ')}\nmetrics:\n${live.join('\n')}` +
          `\n${await gatewayStacks(gw)}`);
      });
    assert.ifError(r.error);
  }
  await sleep(500); // anything extra would arrive now
  abort.abort();
  await Promise.all(readers.map((r) => r.done));
  probing = false;
  await prober;
  for (const r of readers) {
    assert.equal(r.ids.length, published.length, `${r.name}: ${r.ids.length} events for ${published.length} published`);
    assert.deepEqual(r.ids, published, `${r.name}: every event once, in order`);
  }
  await until('the webhook to have every event', () => published.every((id) => hook.got.has(id)), 60000, 200);
  assert.ok(idsAfterHookKill.every((id) => hook.got.has(id)));
  readyTimes.sort((a, b) => a - b);
  figure('readyz_max_ms', readyTimes[readyTimes.length - 1]);
  figure('readyz_p99_ms', readyTimes[Math.floor(readyTimes.length * 0.99)]);
  figure('events', published.length);
  // no HTTP thread waits long on NATS for readiness: the old check held one up to 5 s. Its own
  // requests wait 250 ms at most; an answer can also queue behind stream opens (up to 0.5-1 s
  // each) on the two HTTP threads while clients reconnect, hence the margin
  assert.ok(readyTimes[readyTimes.length - 1] < 2500, `/readyz took ${readyTimes[readyTimes.length - 1]} ms`);
  // once a new leader is there, ingest goes on within about a second
  assert.ok(firstOk.t1 - electedAt < 2000, `ingest came back ${firstOk.t1 - electedAt} ms after the election`);
});

test('every stream and bucket keeps 3 replicas after every daemon and command ran', async () => {
  // the node restarted last may still be catching up: JetStream requests can time out until it
  // has (nats-server's /healthz says when), as a person running these commands would see
  await until('every node healthy', async () => {
    for (const n of cluster.nodes) {
      const r = await fetch(`${n.mon}/healthz`).catch(() => null);
      if (!r || !r.ok) return false;
    }
    return true;
  }, 30000, 200);
  // commands without --replicas (their default is 1): none may lower what init made; a runtime
  // failure (exit 1, e.g. a request timing out while a leader moves) is retried like a user would
  for (const args of [['init'], ['subscriptions', 'list'], ['dlq', 'list'],
    ['workflows', 'get', workflow],
    ['publish', '--tenant', 't-other', '--type', 'x.done', '--data', '{}']]) {
    let r;
    for (let attempt = 0; attempt < 3; attempt++) {
      r = await bridgeCmd(args);
      if (r.code !== 1) break;
      console.log(`# retrying ${args.join(' ')}: ${r.stderr.trim()}`);
      await sleep(1000);
    }
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const g = await startGateway({
    dir, natsUrl: cluster.urls(), secretFile: secret, name: 'gwC', args: [...tlsArgs(certs), '--provision'],
  });
  await g.stop('SIGTERM');
  const list = await streams(cluster.nodes[0]);
  const names = list.map((s) => s.name).sort();
  for (const want of ['FLOVYN_EVENTS', 'FLOVYN_STREAMS', 'KV_FLOVYN_SUBSCRIPTIONS']) {
    assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
  }
  for (const s of list) assert.equal(s.replicas, 3, `${s.name} has ${s.replicas} replicas`);
  console.log(`# streams with 3 replicas: ${names.join(', ')}`);
});

test('with every NATS node down, SIGTERM stops the gateways and the bridge at once, exit 0', async () => {
  // a stream open on each gateway, so that the drain has work
  const token = mintToken(secret, tenant, '1h');
  const aborts = [];
  for (const g of [gwA, gwB]) {
    const ac = new AbortController();
    const r = await fetch(g.base + '/v1/events/stream', { headers: { Authorization: 'Bearer ' + token }, signal: ac.signal });
    assert.equal(r.status, 200);
    r.body.getReader().read().catch(() => {});
    aborts.push(ac);
  }
  for (const n of cluster.nodes) await cluster.kill(n);
  await sleep(1500); // the daemons notice
  for (const p of [gwA, gwB, bridge]) {
    const t0 = Date.now();
    const { code, sig } = await p.stop('SIGTERM', 30000);
    const ms = Date.now() - t0;
    console.log(`# figure stop_ms_nats_down_${p.name} ${ms}`);
    assert.equal(code, 0, `${p.name} exit ${code} ${sig}`);
    // before: the bridge took 15-18 s (each stop step waited out a NATS request), which a
    // container runtime's grace period turns into a SIGKILL
    assert.ok(ms < 5000, `${p.name} took ${ms} ms to stop`);
  }
  for (const ac of aborts) ac.abort();
});
