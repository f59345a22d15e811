// The container test: the deployment files in deploy/ run for real with rootful podman.
//  1. compose (deploy/compose.yaml): the base image (deploy/base-image.sh, built once and kept),
//     the images, a 3-node TLS NATS cluster, the bridge, two gateways and the HTTP/2 front;
//     through the front: ingest and an SSE read with `curl --http2`, 8 EventSources at once in
//     Chromium (HTTP/1.1 would let 6 connect), the stream leader's NATS container killed while
//     events flow (every event arrives once), `podman stop` of a gateway and the bridge (exit 0
//     within the grace period), then compose down.
//  2. Kubernetes (deploy/k8s): the rendered objects against the Kubernetes schemas, then the
//     manifests played with deploy/k8s/podman-play.sh: a gateway pod ready, ingest and SSE through
//     it, down.
// Everything runs under the compose project `flovyn-ctest` and the podman network
// `flovyn-ctest-k8s`, on free host ports; only what they hold is removed. Where podman cannot run,
// the tests that need it are skipped with the reason, and the offline checks still run.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import YAML from 'yaml';
import { parseSse } from '../support/procs.mjs';
import {
  run, timed, sleep, until, freePort, tmpdir, CHROMIUM, resumingReader, postJson, httpStatus,
  natsStreams, checkObject,
} from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../..');
const COMPOSE_FILE = path.join(ROOT, 'deploy/compose.yaml');
const PROJECT = 'flovyn-ctest';
const PLAY_NETWORK = 'flovyn-ctest-k8s';
const CONF = process.env.CONTAINERS_CONF || path.join(ROOT, 'deploy/containers.conf');
// podman build keeps HEALTHCHECK only in the docker image format
const ENV = { CONTAINERS_CONF: CONF, BUILDAH_FORMAT: 'docker' };
const TENANT = 'ctest';
const figures = {};

const missing = async (tool) => (await run('sh', ['-c', `command -v ${tool}`], { ok: true })).code !== 0;

// why podman cannot run here, or null
async function podmanProblem() {
  for (const tool of ['podman', 'podman-compose', 'mmdebstrap']) {
    if (await missing(tool)) return `${tool} is not installed (scripts/install-deps.sh --test installs it)`;
  }
  const r = await run('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], { env: ENV, ok: true });
  if (r.code !== 0) return `podman info failed: ${r.stderr.trim().split('\n').pop()}`;
  return null;
}
const problem = await podmanProblem();
if (problem) {
  console.log(`containers: podman cannot run here: ${problem}`);
  console.log('containers: skipped: base image, image builds, compose (cluster, HTTP/2 front, ' +
    'Chromium, NATS kill, stops), podman kube play; the offline Kubernetes checks still run');
}

// kubectl renders the kustomize base: scripts/install-deps.sh --test installs Debian's
// kubernetes-client (1.20) unless a kubectl is there; the base is written for both
const noKubectl = (await missing('kubectl')) && 'kubectl is not installed: the kustomize checks need it';
if (noKubectl) console.log(`containers: skipped: ${noKubectl}`);

const podman = (args, opts = {}) => run('podman', args, { env: ENV, ...opts });
const cname = (svc) => `${PROJECT}_${svc}_1`;

describe('compose: 3-node TLS NATS cluster, bridge, two gateways, HTTP/2 front', { skip: problem || false }, () => {
  const ports = {};
  let composeEnv;
  let ca; // the CA that signed the front's certificate (made by the certs service)
  let caFile;
  let token;
  let work;
  const front = () => `https://127.0.0.1:${ports.front}`;
  const compose = (args, opts = {}) =>
    run('podman-compose', ['-p', PROJECT, '-f', COMPOSE_FILE, ...args], { env: composeEnv, ...opts });

  async function removeProject() {
    await compose(['down', '-v', '-t', '10'], { ok: true });
    // podman-compose 1.0.3 leaves the network and any container it did not know
    const left = await podman(['ps', '-a', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]);
    for (const id of left.stdout.split('\n').filter(Boolean)) await podman(['rm', '-f', id], { ok: true });
    const vols = await podman(['volume', 'ls', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]);
    for (const v of vols.stdout.split('\n').filter(Boolean)) await podman(['volume', 'rm', '-f', v], { ok: true });
    await podman(['network', 'rm', '-f', `${PROJECT}_default`], { ok: true });
  }

  before(async () => {
    work = tmpdir('containers');
    ports.front = await freePort();
    ports.gw1 = await freePort();
    ports.gw2 = await freePort();
    composeEnv = { ...ENV, FLOVYN_FRONT_PORT: String(ports.front), FLOVYN_GATEWAY_PORT: String(ports.gw1),
      FLOVYN_GATEWAY_2_PORT: String(ports.gw2) };
    figures.baseImage = (await timed(() => run(path.join(ROOT, 'deploy/base-image.sh'), [], { env: ENV }))).ms;
    figures.build = (await timed(() => compose(['build']))).ms;
    await removeProject(); // what a crashed earlier run left
    const t0 = Date.now();
    await compose(['up', '-d']);
    figures.composeUp = Date.now() - t0;
    await until('both gateways ready', async () =>
      (await httpStatus(ports.gw1, '/readyz')) === 200 && (await httpStatus(ports.gw2, '/readyz')) === 200, 90000, 250);
    // the bridge publishes no port: its image's health check asks it
    await until('the bridge ready', async () =>
      (await podman(['healthcheck', 'run', cname('bridge')], { ok: true })).code === 0, 90000, 500);
    figures.composeReady = Date.now() - t0;
    ca = (await podman(['exec', cname('gateway'), 'cat', '/flovyn/tls/ca.crt'])).stdout;
    caFile = path.join(work, 'ca.crt');
    fs.writeFileSync(caFile, ca);
  });

  after(async () => {
    if (!composeEnv) return;
    await removeProject();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('the token command of deploy/README.md mints a token the gateways accept', async () => {
    const r = await compose(['exec', 'gateway', 'flovyn-gateway', 'token', '--tenant', TENANT, '--ttl', '1h',
      '--jwt-secret-file', '/flovyn/secret/jwt.secret']);
    // podman-compose prints the podman commands it runs around the command's own output
    // (with a terminal: lines end with CR LF)
    token = r.stdout.split(/\r?\n/).find((l) => /^ey[\w-]*\.[\w-]+\.[\w-]+$/.test(l));
    assert.ok(token, `a token in the output:\n${r.stdout}`);
    const ok = await postJson(`http://127.0.0.1:${ports.gw2}/v1/events`, token,
      { id: 'tok-1', event_type: 'workflow.started', workflow_execution_id: 'wf-tok', data: {} });
    assert.equal(ok.status, 202, ok.text);
    const bad = await postJson(`http://127.0.0.1:${ports.gw1}/v1/events`, token + 'x', { event_type: 'workflow.started' });
    assert.equal(bad.status, 401);
  });

  test('the images\' HEALTHCHECK: gateway and bridge healthy', async () => {
    for (const svc of ['gateway', 'gateway-2', 'bridge']) {
      const r = await podman(['healthcheck', 'run', cname(svc)], { ok: true });
      assert.equal(r.code, 0, `${svc}: ${r.stdout}${r.stderr}`);
    }
    const user = (await podman(['exec', cname('gateway'), 'id', '-u'])).stdout.trim();
    assert.equal(user, '10001', 'the daemons run as a non-root user');
  });

  test('through the front over HTTP/2: ingest, and an SSE read with curl --http2', async () => {
    const wf = 'wf-curl';
    const events = [
      { id: 'c-1', event_type: 'workflow.started', workflow_execution_id: wf, data: { n: 1 } },
      { id: 'c-2', event_type: 'task.completed', workflow_execution_id: wf, task_execution_id: 'k-1', data: { n: 2 } },
      { id: 'c-3', event_type: 'workflow.completed', workflow_execution_id: wf, data: { n: 3 } },
    ];
    const post = await run('curl', ['-sS', '--http2', '--cacert', caFile, '-H', `Authorization: Bearer ${token}`,
      '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(events),
      '-w', '\n%{http_version} %{http_code}', `${front()}/v1/events`]);
    const lines = post.stdout.trim().split('\n');
    assert.equal(lines.pop(), '2 202', post.stdout);
    const results = JSON.parse(lines.join('\n')).results;
    assert.deepEqual(results.map((r) => [r.id, r.duplicate]), [['c-1', false], ['c-2', false], ['c-3', false]]);
    const sse = await run('curl', ['-sS', '-N', '--http2', '--cacert', caFile, '--max-time', '20',
      '-H', `Authorization: Bearer ${token}`, '-w', '\n:http_version %{http_version}\n',
      `${front()}/v1/workflow-executions/${wf}/stream?close_on_terminal=true`]);
    assert.match(sse.stdout, /:http_version 2\n$/);
    const got = parseSse(sse.stdout).events;
    assert.deepEqual(got.map((e) => e.type), ['workflow.started', 'task.completed', 'workflow.completed', 'end']);
    assert.deepEqual(got.slice(0, 3).map((e) => JSON.parse(e.data).id), ['c-1', 'c-2', 'c-3']);
  });

  test('Chromium: 8 EventSources open at once on one origin all receive their events (HTTP/2)', async () => {
    const profile = fs.mkdtempSync(path.join(work, 'chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'],
    });
    try {
      // opens 8 EventSources on the page's origin, each on a workflow of its own, and counts
      // what arrives
      const openEight = async (origin, tag) => {
        const page = await context.newPage();
        await page.goto(`${origin}/healthz`);
        const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
        await page.evaluate(({ tok, tag }) => {
          window.got = Array.from({ length: 8 }, () => []);
          window.opened = Array(8).fill(false);
          for (let i = 0; i < 8; i++) {
            const es = new EventSource(`/v1/workflow-executions/wf-${tag}-${i}/stream?access_token=${tok}`);
            es.onopen = () => { window.opened[i] = true; };
            es.addEventListener('workflow.started', (e) => window.got[i].push(JSON.parse(e.data).id));
          }
        }, { tok: token, tag });
        return { page, protocol };
      };
      const ingestEight = (tag) => postJson(`${front()}/v1/events`, token,
        Array.from({ length: 8 }, (_, i) => ({ id: `${tag}-${i}`, event_type: 'workflow.started',
          workflow_execution_id: `wf-${tag}-${i}`, data: { i } })), { ca });

      const { page, protocol } = await openEight(front(), 'es');
      assert.equal(protocol, 'h2');
      await until('8 EventSources open', () => page.evaluate(() => window.opened.every(Boolean)), 20000, 100);
      assert.equal((await ingestEight('es')).status, 202);
      await until('every EventSource has its event', () =>
        page.evaluate(() => window.got.every((g) => g.length === 1)), 20000, 100);
      assert.deepEqual(await page.evaluate(() => window.got), Array.from({ length: 8 }, (_, i) => [`es-${i}`]));
      await page.close();

      // the same page on a gateway itself (HTTP/1.1): Chromium connects 6, the other 2 wait
      const direct = await openEight(`http://127.0.0.1:${ports.gw1}`, 'h1');
      assert.equal(direct.protocol, 'http/1.1');
      await until('6 EventSources open', () => direct.page.evaluate(() => window.opened.filter(Boolean).length >= 6), 20000, 100);
      assert.equal((await ingestEight('h1')).status, 202);
      await until('6 events', () => direct.page.evaluate(() => window.got.filter((g) => g.length).length >= 6), 20000, 100);
      await sleep(1500);
      assert.equal(await direct.page.evaluate(() => window.got.filter((g) => g.length).length), 6,
        'over HTTP/1.1 only 6 of 8 streams of one origin connect');
      await direct.page.close();
    } finally {
      await context.close();
    }
  });

  test('the stream leader\'s NATS container killed while events flow: every event arrives once', async () => {
    const streams = await natsStreams(cname('nats-1'));
    for (const [name, s] of Object.entries(streams)) assert.equal(s.replicas, 3, `${name} has 3 replicas`);
    const leader = streams.FLOVYN_EVENTS.leader;
    assert.match(leader, /^nats-[123]$/);
    const wf = 'wf-kill';
    const path = `/v1/workflow-executions/${wf}/stream`;
    // two readers through the front (HTTP/2, balanced over both gateways) and one on each gateway
    const readers = [
      resumingReader(front() + path, { token, ca, name: 'front-a' }),
      resumingReader(front() + path, { token, ca, name: 'front-b' }),
      resumingReader(`http://127.0.0.1:${ports.gw1}${path}`, { token, name: 'gateway-1' }),
      resumingReader(`http://127.0.0.1:${ports.gw2}${path}`, { token, name: 'gateway-2' }),
    ];
    const session = http2.connect(front(), { ca });
    session.on('error', () => {});
    const N = 150;
    let retries = 0;
    let slowest = 0;
    let killedAt = 0;
    try {
      await until('readers connected', () => readers.every((r) => r.connects > 0), 10000);
      await sleep(300);
      for (let i = 0; i < N; i++) {
        if (i === 50) {
          killedAt = Date.now();
          await podman(['kill', cname(leader)]);
        }
        const body = { id: `kill-${i}`, event_type: 'task.started', workflow_execution_id: wf,
          task_execution_id: `k-${i}`, data: { i } };
        const t0 = Date.now();
        // an ingest refused during the election is sent again with the same id: stored once
        for (;;) {
          let r;
          try {
            r = await postJson(`${front()}/v1/events`, token, body, { ca, session });
          } catch (e) {
            r = { status: 0, text: String(e) };
          }
          if (r.status === 202) break;
          assert.ok(r.status === 0 || r.status >= 500, `ingest ${i}: ${r.status} ${r.text}`);
          assert.ok(Date.now() - t0 < 30000, `ingest ${i} not accepted in 30 s: ${r.status} ${r.text}`);
          retries++;
          await sleep(100);
        }
        slowest = Math.max(slowest, Date.now() - t0);
        await sleep(20);
      }
      const want = Array.from({ length: N }, (_, i) => `kill-${i}`);
      const ids = (r) => r.events.filter((e) => e.type === 'task.started').map((e) => JSON.parse(e.data).id);
      await until('every reader has every event', () => readers.every((r) => ids(r).length >= N), 30000, 100);
      for (const r of readers) {
        assert.deepEqual(ids(r), want, `${r.name}: every event once, in order`);
      }
      figures.natsKill = { leader, ingestRetries: retries, slowestIngestMs: slowest,
        reconnects: readers.map((r) => `${r.name}:${r.connects - 1}`).join(' '),
        msFromKillToEnd: Date.now() - killedAt };
    } finally {
      readers.forEach((r) => r.stop());
      session.close();
    }
    // the killed node comes back (restart policy) and the streams keep 3 replicas
    await podman(['start', cname(leader)], { ok: true });
    await until('3 replicas seen from the restarted node', async () => {
      try {
        const s = await natsStreams(cname(leader));
        return Object.keys(s).length >= 5 && Object.values(s).every((x) => x.replicas === 3);
      } catch (e) {
        return false;
      }
    }, 30000, 500);
  });

  test('podman stop of a gateway and of the bridge: a clean drain, exit 0 well within the grace period', async () => {
    // a stream open on the gateway that stops is closed with `retry:`, so its client resumes
    const sse = run('curl', ['-sS', '-N', '--max-time', '20', '-H', `Authorization: Bearer ${token}`,
      '-w', '\n:exit ok\n', `http://127.0.0.1:${ports.gw2}/v1/workflow-executions/wf-curl/stream`], { ok: true });
    await sleep(800);
    for (const [svc, grace] of [['gateway-2', 10], ['bridge', 15]]) {
      const { ms } = await timed(() => podman(['stop', '-t', String(grace), cname(svc)]));
      const code = (await podman(['inspect', cname(svc), '--format', '{{.State.ExitCode}}'])).stdout.trim();
      assert.equal(code, '0', `${svc} exit status`);
      assert.ok(ms < grace * 1000 / 2, `${svc} stopped in ${ms} ms (grace ${grace} s)`);
      figures[`stop_${svc}_ms`] = ms;
    }
    const r = await sse;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /:exit ok\n$/);
    const retries = r.stdout.split('\n').filter((l) => l.startsWith('retry:'));
    assert.ok(retries.length >= 2, 'the stream got a `retry:` before its close');
    // the front goes on with the other gateway
    for (let i = 0; i < 4; i++) {
      const p = await postJson(`${front()}/v1/events`, token,
        { id: `after-stop-${i}`, event_type: 'workflow.started', workflow_execution_id: 'wf-after', data: {} }, { ca });
      assert.equal(p.status, 202, p.text);
    }
  });

  test('compose down removes the project\'s containers, volumes and network', async () => {
    const { ms } = await timed(() => removeProject());
    figures.composeDown = ms;
    const left = await podman(['ps', '-a', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]);
    assert.equal(left.stdout.trim(), '');
    const vols = await podman(['volume', 'ls', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]);
    assert.equal(vols.stdout.trim(), '');
    assert.notEqual((await podman(['network', 'exists', `${PROJECT}_default`], { ok: true })).code, 0);
  });
});

test('docker-compose accepts deploy/compose.yaml, and refuses a broken copy', async (t) => {
  if (await missing('docker-compose')) {
    t.skip('docker-compose is not installed (scripts/install-deps.sh --test installs it)');
    return;
  }
  const env = { FLOVYN_FRONT_PORT: '8443' };
  const r = await run('docker-compose', ['-f', COMPOSE_FILE, 'config', '-q'], { env, ok: true });
  assert.equal(r.code, 0, r.stderr);
  // the check can fail: a misspelt key in a copy next to the original
  const broken = path.join(path.dirname(COMPOSE_FILE), `.compose-broken-${process.pid}.yaml`);
  fs.writeFileSync(broken, fs.readFileSync(COMPOSE_FILE, 'utf8').replace('    ulimits: *ulimits', '    ulimit: *ulimits'));
  try {
    const b = await run('docker-compose', ['-f', broken, 'config', '-q'], { env, ok: true });
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /ulimit/);
  } finally {
    fs.rmSync(broken, { force: true });
  }
});

describe('Kubernetes: deploy/k8s', { skip: noKubectl || false }, () => {
  test('kustomize renders the base; every object passes the Kubernetes schemas, no unknown field', async () => {
    const rendered = (await run('kubectl', ['kustomize', path.join(ROOT, 'deploy/k8s')])).stdout;
    const docs = YAML.parseAllDocuments(rendered).map((d) => d.toJSON());
    const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`).sort();
    assert.deepEqual(kinds, ['ConfigMap/flovyn-config', 'ConfigMap/flovyn-nats', 'Deployment/flovyn-bridge',
      'Deployment/flovyn-gateway', 'PodDisruptionBudget/flovyn-gateway', 'PodDisruptionBudget/flovyn-nats',
      'Secret/flovyn-jwt', 'Secret/flovyn-tls', 'Service/flovyn-bridge', 'Service/flovyn-gateway',
      'Service/flovyn-nats', 'StatefulSet/flovyn-nats']);
    const problems = [];
    for (const d of docs) problems.push(...await checkObject(d));
    assert.deepEqual(problems, []);
    // the check finds what it is for: a misspelt field, a wrong type, a missing required field
    const gw = structuredClone(docs.find((d) => d.metadata.name === 'flovyn-gateway' && d.kind === 'Deployment'));
    gw.spec.replica = 2;
    gw.spec.template.spec.containers[0].readinesProbe = gw.spec.template.spec.containers[0].readinessProbe;
    gw.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    delete gw.spec.selector;
    const found = (await checkObject(gw)).join('\n');
    for (const want of ['/spec/replica unknown', 'readinesProbe unknown', 'containerPort type', 'selector']) {
      assert.ok(found.includes(want), `the check reports ${want}:\n${found}`);
    }
    // what the deployment relies on
    const nats = docs.find((d) => d.kind === 'StatefulSet');
    assert.equal(nats.spec.replicas, 3);
    assert.equal(docs.find((d) => d.kind === 'Service' && d.metadata.name === 'flovyn-nats').spec.clusterIP, 'None');
    const gws = gw.spec.template.spec;
    assert.equal(docs.find((d) => d.metadata.name === 'flovyn-gateway' && d.kind === 'Deployment').spec.replicas, 2);
    assert.equal(gws.containers[0].readinessProbe.httpGet.path, '/readyz');
    assert.equal(gws.containers[0].livenessProbe.httpGet.path, '/healthz');
    assert.ok(gws.terminationGracePeriodSeconds > Number(gws.containers[0].lifecycle.preStop.exec.command[1]) + 3);
    assert.equal(docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'flovyn-config').data.FLOVYN_REPLICAS, '3');
  });

  test('podman-play.sh up: the manifests run with podman kube play; a gateway pod serves; down removes it all',
    { skip: problem || false }, async () => {
      const dir = tmpdir('k8s-play');
      const state = path.join(dir, 'state');
      // two consecutive free ports for the two gateway pods
      let port;
      for (;;) {
        port = await freePort();
        if (port < 65535 && (await httpStatus(port + 1, '/')) === 0) break;
      }
      const env = { ...ENV, FLOVYN_PLAY_DIR: state, FLOVYN_PLAY_NETWORK: PLAY_NETWORK,
        FLOVYN_PLAY_GATEWAY_PORT: String(port) };
      const play = (cmd) => run(path.join(ROOT, 'deploy/k8s/podman-play.sh'), [cmd], { env });
      await run(path.join(ROOT, 'deploy/k8s/podman-play.sh'), ['down'], { env, ok: true }); // an earlier run's
      try {
        const t0 = Date.now();
        await play('up');
        figures.playUp = Date.now() - t0;
        await until('the gateway pods ready', async () =>
          (await httpStatus(port, '/readyz')) === 200 && (await httpStatus(port + 1, '/readyz')) === 200, 90000, 250);
        figures.playReady = Date.now() - t0;
        const tok = (await podman(['exec', 'flovyn-gateway-0-gateway', 'flovyn-gateway', 'token', '--tenant', TENANT,
          '--ttl', '10m', '--jwt-secret-file', '/flovyn/secret/jwt.secret'])).stdout.trim();
        const wf = 'wf-k8s';
        const p = await postJson(`http://127.0.0.1:${port}/v1/events`, tok, [
          { id: 'k8s-1', event_type: 'workflow.started', workflow_execution_id: wf, data: {} },
          { id: 'k8s-2', event_type: 'workflow.completed', workflow_execution_id: wf, data: {} }]);
        assert.equal(p.status, 202, p.text);
        // read on the other gateway pod
        const sse = await run('curl', ['-sS', '-N', '--max-time', '20', '-H', `Authorization: Bearer ${tok}`,
          `http://127.0.0.1:${port + 1}/v1/workflow-executions/${wf}/stream?close_on_terminal=true`]);
        assert.deepEqual(parseSse(sse.stdout).events.map((e) => e.type), ['workflow.started', 'workflow.completed', 'end']);
        // the bridge pods make FLOVYN_DLQ and the buckets as they start, maybe after the read
        let streams = {};
        await until('the bridge\'s streams and buckets', async () => {
          streams = await natsStreams('flovyn-nats-0-nats');
          return Object.keys(streams).length >= 5;
        }, 30000, 500);
        assert.ok(Object.keys(streams).length >= 5);
        for (const [name, s] of Object.entries(streams)) assert.equal(s.replicas, 3, `${name} has 3 replicas`);
      } finally {
        const { ms } = await timed(() => play('down'));
        figures.playDown = ms;
      }
      const pods = await podman(['pod', 'ps', '-q', '--filter', `label=io.flovyn-events/podman-play=${PLAY_NETWORK}`]);
      assert.equal(pods.stdout.trim(), '');
      assert.notEqual((await podman(['network', 'exists', PLAY_NETWORK], { ok: true })).code, 0);
      const vols = await podman(['volume', 'ls', '-q', '--filter', `name=${PLAY_NETWORK}`]);
      assert.equal(vols.stdout.trim(), '');
      assert.ok(!fs.existsSync(state));
      fs.rmSync(dir, { recursive: true, force: true });
    });
});

after(() => {
  if (Object.keys(figures).length) console.log(`containers: measured (ms) ${JSON.stringify(figures)}`);
});
