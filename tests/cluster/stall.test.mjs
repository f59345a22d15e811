// stall.test.mjs - a NATS server that stops answering (SIGSTOP: the connection stays up, nothing
// is acknowledged) must not stall the gateway's HTTP threads: ingest requests wait for their
// acknowledgements on ingest workers, so /readyz, /healthz and stream opens keep being answered
// by the one HTTP thread (--threads 1) while more ingest requests than HTTP threads are pending,
// and a new stream is told to retry within half a second instead of holding that thread.
// Each ingest request answers 503 with Retry-After at --publish-deadline; once the server
// answers again (SIGCONT), the same batches sent again are stored once each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import {
  bridgeInit, lifecycle, mintToken, sleep, startGateway, startNats, tmpdir, writeSecret,
} from '../support/procs.mjs';

let dir, nats, gw, secret;

before(async () => {
  dir = tmpdir('stall');
  nats = await startNats(dir);
  bridgeInit(nats.url, dir);
  secret = writeSecret(dir);
  gw = await startGateway({
    dir, natsUrl: nats.url, secretFile: secret, name: 'gateway',
    args: ['--threads', '1', '--publish-deadline', '2s'],
  });
});

after(async () => {
  if (nats) { try { process.kill(nats.pid, 'SIGCONT'); } catch (e) { /* gone */ } }
  for (const p of [gw, nats]) if (p) await p.stop('SIGTERM');
  if (dir && !process.env.FV_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

async function timed(url, opts = {}) {
  const t0 = Date.now();
  const r = await fetch(url, { ...opts, signal: AbortSignal.timeout(15000) });
  const text = await r.text();
  return { status: r.status, ms: Date.now() - t0, text, headers: r.headers };
}

test('a silent NATS server holds no HTTP thread; every ingest request gets its answer', async () => {
  const tenant = 't-' + randomUUID().slice(0, 8);
  const token = mintToken(secret, tenant, '1h');
  const post = (batch) => timed(gw.base + '/v1/events', {
    method: 'POST', body: JSON.stringify(batch),
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
  });
  // warm: the streams are known, one event stored
  const warm = await post([lifecycle('wf-1', 'step.done')]);
  assert.equal(warm.status, 202, warm.text);
  const first = new AbortController(); // the live path is following the streams
  const r = await fetch(gw.base + '/v1/events/stream', { headers: { Authorization: 'Bearer ' + token }, signal: first.signal });
  assert.equal(r.status, 200);
  first.abort();

  process.kill(nats.pid, 'SIGSTOP');
  const batches = [0, 1, 2, 3].map(() => [lifecycle('wf-1', 'step.done'), lifecycle('wf-1', 'step.done')]);
  const pending = batches.map((b) => post(b));
  await sleep(300); // all four are publishing now
  const ready = await timed(gw.base + '/readyz');
  const live = await timed(gw.base + '/healthz');
  // a new stream needs the stream's last sequence: without an answer the client is told to
  // come back (200, retry:, overloaded) instead of holding the HTTP thread for 5 s
  const opened = await timed(gw.base + '/v1/events/stream', { headers: { Authorization: 'Bearer ' + token } });
  const answers = await Promise.all(pending); // the deadline passes with NATS still silent
  process.kill(nats.pid, 'SIGCONT');

  console.log(`# figure readyz_ms_while_stalled ${ready.ms}`);
  console.log(`# figure healthz_ms_while_stalled ${live.ms}`);
  console.log(`# figure ingest_ms_while_stalled ${answers.map((a) => a.ms).join(',')}`);
  // one HTTP thread, four ingest requests waiting on NATS: the others are answered at once
  assert.equal(live.status, 200);
  assert.ok(live.ms < 1000, `/healthz took ${live.ms} ms`);
  assert.equal(ready.status, 200, 'streams known before the stall stay known');
  assert.ok(ready.ms < 1000, `/readyz took ${ready.ms} ms`);
  console.log(`# figure stream_open_ms_while_stalled ${opened.ms}`);
  assert.equal(opened.status, 200);
  assert.match(opened.text, /^retry: \d+$/m);
  assert.match(opened.text, /^event: overloaded$/m);
  assert.ok(opened.ms < 1500, `the stream open took ${opened.ms} ms`);
  for (const a of answers) {
    assert.equal(a.status, 503, a.text);
    assert.equal(a.headers.get('retry-after'), '1');
    assert.ok(a.ms >= 1500 && a.ms < 5000, `answered at the deadline (${a.ms} ms)`);
  }
  // every batch again, as a producer would after a 503: each event stored once
  const seqs = new Map();
  for (const b of batches) {
    const again = await post(b);
    assert.equal(again.status, 202, again.text);
    for (const [k, r] of JSON.parse(again.text).results.entries()) {
      assert.ok(r.seq > 0);
      assert.ok(!seqs.has(r.seq), 'one sequence per event');
      seqs.set(r.seq, b[k].id);
    }
  }
  assert.equal(seqs.size, 8);
});
