// harness.mjs - what the browser tests need beyond the shared process helpers
// (tests/support/procs.mjs, re-exported here): a raw SSE reader (eventsource-parser) and headless
// Chromium from the system (never downloaded).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import { chromium } from 'playwright-core';
import { CHROMIUM } from '../support/procs.mjs';

export * from '../support/procs.mjs';

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
