// producers.test.mjs - each example of docs/producers.md, built and run as a user would, publishes
// one workflow run straight to NATS with a plain client (no flovyn code); a real flovyn-gateway
// must then serve exactly that run: on an SSE stream opened before the example starts (live
// delivery, ending with `end` after workflow.completed) and in the history pages, with the types,
// ids, tasks, data and payloads the example sent, the retried event stored once.
//
// The stack is real: nats-server on a free port with a temporary store, streams provisioned by
// `flovyn-bridge init`, one flovyn-gateway, tokens from `flovyn-gateway token`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  BUILD_DIR, bridgeInit, mintToken, parseSse, startGateway, startNats, tmpdir, writeSecret,
} from '../support/procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(here, '../../examples/producers');
const OUT = path.join(BUILD_DIR, 'producers');

let dir, nats, gw, secret;

// how each example is built (once) and started, from its directory, as docs/producers.md says
const languages = {
  'JavaScript (npm nats)': {
    dir: 'js', source: 'example:js', protobuf: 'task.started',
    command: () => [process.execPath, ['publish.mjs']],
  },
  'Go (nats.go from Debian)': {
    dir: 'go', source: 'example:go',
    command: () => {
      const exe = path.join(OUT, 'producer-go');
      execFileSync('go', ['build', '-o', exe, '.'], {
        cwd: path.join(EXAMPLES, 'go'), stdio: ['ignore', 'pipe', 'pipe'], timeout: 300000,
        // offline: GOPATH mode on Debian's Go sources, nothing fetched
        env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '',
          GOPROXY: 'off', GOCACHE: path.join(OUT, 'go-cache') },
      });
      return [exe, []];
    },
  },
  'C (nats.c)': {
    dir: 'c', source: 'example:c',
    command: () => {
      const exe = path.join(OUT, 'producer-c');
      const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libnats'], { encoding: 'utf8' })
        .trim().split(/\s+/).filter(Boolean);
      execFileSync('cc', ['-Wall', '-Wextra', '-Werror', '-o', exe, 'producer.c', ...flags], {
        cwd: path.join(EXAMPLES, 'c'), stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000,
      });
      return [exe, []];
    },
  },
};

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  dir = tmpdir('producers');
  nats = await startNats(dir);
  bridgeInit(nats.url, dir); // the streams the examples publish into
  secret = writeSecret(dir);
  gw = await startGateway({ dir, natsUrl: nats.url, secretFile: secret });
});

after(async () => {
  for (const p of [gw, nats]) if (p) await p.stop();
  if (dir && !process.env.FV_KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true });
});

function runExample(lang, env) {
  const [file, args] = lang.command();
  const out = execFileSync(file, args, {
    cwd: path.join(EXAMPLES, lang.dir), encoding: 'utf8', timeout: 60000,
    env: { ...process.env, ...env },
  });
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

describe('producer examples publish with a plain NATS client; the gateway serves what they sent', () => {
  for (const [name, lang] of Object.entries(languages)) {
    test(name, async () => {
      const tenant = `prod-${lang.dir}-${randomUUID().slice(0, 8)}`;
      const workflow = `wf-${lang.dir}-${randomUUID().slice(0, 8)}`;
      const token = mintToken(secret, tenant, '1h');
      const auth = { Authorization: 'Bearer ' + token };

      // the stream is open before anything is published: what follows arrives live
      const sse = await fetch(`${gw.base}/v1/workflow-executions/${workflow}/stream?close_on_terminal=true`,
        { headers: { ...auth, Accept: 'text/event-stream' }, signal: AbortSignal.timeout(60000) });
      assert.equal(sse.status, 200);
      const body = sse.text();

      const acks = runExample(lang, { FLOVYN_NATS_URL: nats.url, FLOVYN_TENANT: tenant, FLOVYN_WORKFLOW: workflow });
      assert.equal(acks.length, 7, JSON.stringify(acks));
      const prefix = `flovyn.v1.events.${tenant}.${workflow}.`;
      assert.equal(acks[0].subject, prefix + '_.workflow.started');
      assert.deepEqual([acks[1].id, acks[1].seq, acks[1].duplicate], [acks[0].id, acks[0].seq, true],
        'the retried event is acknowledged as a duplicate of the first');
      const task = acks[2].subject.split('.')[5];
      assert.equal(acks[2].subject, `${prefix}${task}.task.started`);
      assert.equal(acks[3].subject, `flovyn.v1.streams.${tenant}.${workflow}.${task}.token`);
      const ids = [acks[0], acks[2], acks[5], acks[6]].map((a) => a.id);

      const { events } = parseSse(await body);
      // the contract orders a merged stream per source: lifecycle events in their order, tokens
      // in theirs, `end` last (a token and a lifecycle event published back to back may arrive
      // at the gateway on its two live subscriptions in either order)
      const types = events.map((e) => e.type);
      assert.deepEqual(types.filter((t) => t !== 'token'),
        ['workflow.started', 'task.started', 'task.completed', 'workflow.completed', 'end']);
      assert.equal(types.filter((t) => t === 'token').length, 2);
      assert.ok(types.indexOf('token') > types.indexOf('task.started'),
        'a token published after task.started was acknowledged comes after it (causal order)');
      const data = events.slice(0, 6).map((e) => JSON.parse(e.data));
      const lifecycle = data.filter((d) => d.event_type);
      assert.deepEqual(lifecycle.map((d) => d.id), ids);
      for (const d of lifecycle) {
        assert.equal(d.tenant_id, tenant);
        assert.equal(d.workflow_execution_id, workflow);
        assert.equal(d.source, lang.source);
        assert.ok(d.timestamp_ms > 0);
      }
      assert.deepEqual(lifecycle.map((d) => d.task_execution_id), [null, task, task, null]);
      assert.deepEqual(lifecycle.map((d) => d.data),
        [{ input: { prompt: 'hello' } }, { attempt: 1 }, { output: 'Hello' }, { ok: true }]);
      const tokens = data.filter((d) => d.type === 'token');
      assert.deepEqual(tokens.map((t) => [t.task_execution_id, t.sequence, t.payload]), [[task, 1, 'Hel'], [task, 2, 'lo']]);

      // history: the same events, stored once, at the sequences the acks named
      const r = await fetch(`${gw.base}/v1/events?workflow_execution_id=${workflow}&types=events,token`, { headers: auth });
      assert.equal(r.status, 200);
      const page = await r.json();
      const stored = page.events.filter((e) => e.event_type);
      assert.deepEqual(stored.map((e) => e.id), ids);
      assert.deepEqual(stored.map((e) => e.seq), [acks[0], acks[2], acks[5], acks[6]].map((a) => a.seq));
      assert.equal(page.events.filter((e) => e.type === 'token').length, 2);
      if (lang.protobuf) {
        // published as application/x-protobuf, served as the same JSON
        assert.equal(stored[1].event_type, lang.protobuf);
        assert.deepEqual(stored[1].data, { attempt: 1 });
      }
    });
  }
});
