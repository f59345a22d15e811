// cluster.mjs - a 3-node nats-server cluster on loopback for the cluster tests: TLS on client
// connections and routes (a CA, one server certificate for 127.0.0.1, one client certificate for
// the daemons, all made here with the openssl command), JetStream on every node with a store of
// its own, monitoring on a free port per node. Nodes are started, SIGKILLed and restarted by pid.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { start, freePort, portOpen, sleep, until } from '../support/procs.mjs';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

// A CA and two certificates signed by it: server (127.0.0.1, localhost) and client.
export function makeCerts(dir) {
  const d = path.join(dir, 'tls');
  fs.mkdirSync(d, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=fv-test-ca',
    '-keyout', 'ca.key', '-out', 'ca.pem'], d);
  const sign = (name, subject, ext) => {
    fs.writeFileSync(path.join(d, name + '.ext'), ext);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', name + '.key',
      '-out', name + '.csr'], d);
    openssl(['x509', '-req', '-in', name + '.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
      '-CAcreateserial', '-days', '2', '-extfile', name + '.ext', '-out', name + '.pem'], d);
  };
  sign('server', '/CN=127.0.0.1',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  sign('client', '/CN=flovyn-daemon', 'extendedKeyUsage=clientAuth\n');
  // a second CA that signed nothing here: trusting it must fail the handshake
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other-ca',
    '-keyout', 'other-ca.key', '-out', 'other-ca.pem'], d);
  const f = (n) => path.join(d, n);
  return {
    ca: f('ca.pem'), otherCa: f('other-ca.pem'),
    serverCert: f('server.pem'), serverKey: f('server.key'),
    clientCert: f('client.pem'), clientKey: f('client.key'),
  };
}

// The daemons' options for TLS to this cluster.
export function tlsArgs(certs) {
  return ['--nats-tls-ca', certs.ca, '--nats-tls-cert', certs.clientCert,
    '--nats-tls-key', certs.clientKey];
}

// Ports are picked free, then bound by nats-server a moment later: in between, another socket
// can take one as its ephemeral port, and the node exits ("address already in use"). A node that
// exits at start is started again once that socket is gone; a cluster whose node cannot start is
// set up again on new ports.
export async function startCluster(dir, certs) {
  for (let attempt = 1; ; attempt++) {
    const cluster = await configureCluster(dir, certs);
    try {
      for (const n of cluster.nodes) await cluster.startNode(n);
      await cluster.waitJetStream();
      return cluster;
    } catch (e) {
      await cluster.stop();
      if (attempt >= 3) throw e;
      for (const n of cluster.nodes) fs.rmSync(n.store, { recursive: true, force: true });
      console.log(`# cluster start failed (${e.message}); again on new ports`);
    }
  }
}

// a node has bound all its ports when its log says it listens for routes (the last one bound)
function nodeListening(n) {
  let log = '';
  try {
    log = fs.readFileSync(path.join(n.dir, n.name + '.log'), 'utf8');
  } catch (e) {
    return false;
  }
  return log.split('\n').some((l) => l.startsWith(`[${n.proc.pid}] `) &&
    l.includes('Listening for route connections'));
}

async function configureCluster(dir, certs) {
  const nodes = [];
  for (let i = 1; i <= 3; i++) {
    nodes.push({
      name: 'n' + i, port: await freePort(), routePort: await freePort(),
      monPort: await freePort(), store: path.join(dir, 'n' + i), dir,
    });
  }
  const tls = (verify) => `{ cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}", ` +
    `ca_file: "${certs.ca}", verify: ${verify}, timeout: 3 }`;
  for (const n of nodes) {
    const routes = nodes.filter((o) => o !== n)
      .map((o) => `tls://127.0.0.1:${o.routePort}`).join(', ');
    n.conf = path.join(dir, n.name + '.conf');
    fs.writeFileSync(n.conf, [
      `server_name: ${n.name}`,
      `listen: 127.0.0.1:${n.port}`,
      `http: 127.0.0.1:${n.monPort}`,
      `jetstream { store_dir: "${n.store}" }`,
      `tls ${tls(true)}`,
      `cluster { name: fvtest, listen: 127.0.0.1:${n.routePort}, routes: [${routes}], tls ${tls(true)} }`,
      '',
    ].join('\n'));
    n.url = `tls://127.0.0.1:${n.port}`;
    n.mon = `http://127.0.0.1:${n.monPort}`;
  }
  const cluster = {
    nodes,
    urls: (order = nodes) => order.map((n) => n.url).join(','),
    async startNode(n) {
      for (let attempt = 1; ; attempt++) {
        n.proc = start(n.name, 'nats-server', ['-c', n.conf], path.join(dir, n.name + '.log'));
        const state = await until(`${n.name} to listen`, async () => {
          if (n.proc.child.exitCode !== null) return 'exited';
          return nodeListening(n) && (await portOpen(n.port)) ? 'up' : false;
        }, 15000);
        if (state === 'up') return;
        if (attempt >= 10) throw new Error(`${n.name} exited at start ${attempt} times: see ${n.name}.log`);
        await sleep(500); // a port of its own is taken: until the socket holding it is gone
      }
    },
    async kill(n) {
      await n.proc.stop('SIGKILL');
    },
    // JetStream answers on every node once a meta leader is elected
    async waitJetStream() {
      await until('the JetStream meta leader', async () => {
        for (const n of nodes) {
          const j = await jsz(n).catch(() => null);
          if (!j || !j.meta_cluster || !j.meta_cluster.leader) return false;
        }
        return true;
      }, 30000, 200);
    },
    async stop() {
      for (const n of nodes) if (n.proc) await n.proc.stop('SIGTERM');
    },
  };
  return cluster;
}

export async function jsz(node, query = 'streams=true&consumers=true&config=true') {
  const r = await fetch(`${node.mon}/jsz?accounts=true&${query}`, { signal: AbortSignal.timeout(2000) });
  if (!r.ok) throw new Error(`jsz on ${node.name}: ${r.status}`);
  return r.json();
}

// Every stream the node reports, as { name, replicas, leader, consumers: [{ name, leader }] }.
export async function streams(node) {
  const j = await jsz(node);
  const out = [];
  for (const acc of j.account_details || []) {
    for (const s of acc.stream_detail || []) {
      out.push({
        name: s.name,
        replicas: s.config ? s.config.num_replicas : undefined,
        leader: s.cluster ? s.cluster.leader : undefined,
        consumers: (s.consumer_detail || []).map((c) => ({
          name: c.name, leader: c.cluster ? c.cluster.leader : undefined,
        })),
      });
    }
  }
  return out;
}

// The name of the node leading `stream` as the given live nodes see it (undefined: none yet).
export async function leaderOf(nodes, stream, consumer) {
  for (const n of nodes) {
    const list = await streams(n).catch(() => []);
    const s = list.find((x) => x.name === stream);
    if (!s) continue;
    if (!consumer) { if (s.leader) return s.leader; continue; }
    const c = s.consumers.find((x) => x.name === consumer);
    if (c && c.leader) return c.leader;
  }
  return undefined;
}

// Name of the node a client connection named `name` is connected to, or undefined.
export async function nodeOfClient(nodes, name) {
  for (const n of nodes) {
    try {
      const r = await fetch(`${n.mon}/connz?limit=1000`, { signal: AbortSignal.timeout(2000) });
      const j = await r.json();
      if ((j.connections || []).some((c) => c.name === name)) return n;
    } catch (e) { /* node down */ }
  }
  return undefined;
}
