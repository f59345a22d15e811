// harness.mjs - what the browser tests add to tests/support/procs.mjs (real processes: nats-server,
// `flovyn-bridge init`, gateways, tokens): HTTP ingest, a raw SSE reader (eventsource-parser) and
// headless Chromium from the system (never downloaded).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createParser } from 'eventsource-parser';
import { chromium } from 'playwright-core';
import { BUILD_DIR } from '../support/procs.mjs';

export {
  BUILD_DIR, bin, bridgeInit, freePort, mintToken, portOpen, sleep, start, startGateway, startNats,
  tmpdir, until, writeSecret,
} from '../support/procs.mjs';

export const CHROMIUM = process.env.FV_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.join(BUILD_DIR, 'e2e');

// --- producing events over HTTP ingest -------------------------------------------------------
export async function ingestEvents(base, token, events) {
  const r = await fetch(base + '/v1/events', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(events),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST /v1/events: ${r.status} ${text}`);
  return text;
}

export async function ingestStream(base, token, workflow, items) {
  const r = await fetch(`${base}/v1/workflow-executions/${workflow}/stream-events`, {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(items),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST stream-events: ${r.status} ${text}`);
  return text;
}

export function lifecycle(workflow, type, extra = {}) {
  return {
    id: randomUUID(), workflow_execution_id: workflow, event_type: type,
    source: 'e2e', data: extra.data ?? {}, task_execution_id: extra.task ?? null,
    parent_workflow_execution_id: extra.parent ?? null,
  };
}

export function tokens(workflow, task, firstSeq, words) {
  return words.map((w, i) => ({
    workflow_execution_id: workflow, task_execution_id: task, sequence: firstSeq + i,
    type: 'token', payload: { text: w + ' ' }, timestamp_ms: Date.now(),
  }));
}

// --- raw SSE ---------------------------------------------------------------------------------
// Reads an SSE response until `end` (or the server closes), parsing it with eventsource-parser.
export function readSse(url, { timeoutMs = 15000, stopWhen } = {}) {
  return new Promise((resolve, reject) => {
    const events = [];
    let retry = null;
    const req = http.get(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE ${url}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      const parser = createParser({
        onEvent: (ev) => {
          events.push({ id: ev.id ?? '', type: ev.event || 'message', data: ev.data });
          if (ev.event === 'end' || (stopWhen && stopWhen(events))) {
            req.destroy();
            resolve({ events, retry, headers: res.headers });
          }
        },
        onRetry: (ms) => { retry = ms; },
      });
      res.setEncoding('utf8');
      res.on('data', (chunk) => parser.feed(chunk));
      res.on('end', () => resolve({ events, retry, headers: res.headers }));
    });
    req.on('error', (e) => {
      if (e.code === 'ECONNRESET' && events.length) resolve({ events, retry });
      else reject(e);
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      reject(new Error(`SSE ${url}: no end after ${timeoutMs} ms (got ${events.length} events)`));
    });
  });
}

// --- browser ---------------------------------------------------------------------------------
export async function launchBrowser(dir) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set FV_CHROMIUM)`);
  }
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-profile-'));
  // a persistent context is the way to give Chromium a fresh --user-data-dir of our own
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  return context;
}
