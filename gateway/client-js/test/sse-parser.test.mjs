// sse-parser.test.mjs - the client's text/event-stream parser against the WHATWG rules, fed the
// same bytes whole, one character at a time and in every two-piece split, so that a line break
// or a field cut between chunks cannot change what comes out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../index.js';

function parse(chunks, lastEventId = '') {
  const events = [];
  const retries = [];
  const comments = [];
  const p = new SseParser({
    lastEventId,
    onEvent: (e) => events.push(e),
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => comments.push(c),
  });
  for (const c of chunks) p.feed(c);
  p.end();
  return { events, retries, comments, lastEventId: p.lastEventId, committedId: p.committedId };
}

// the same result for the text whole, char by char, and split at every position
function parseEverySplit(text, lastEventId) {
  const whole = parse([text], lastEventId);
  assert.deepEqual(parse([...text], lastEventId), whole, 'one character per chunk');
  for (let i = 1; i < text.length; i++) {
    assert.deepEqual(parse([text.slice(0, i), text.slice(i)], lastEventId), whole, `split at ${i}`);
  }
  return whole;
}

test('multi-line data joins with LF; event, id and retry fields; comments', () => {
  const r = parseEverySplit(
    'retry: 2500\n\n: keep-alive\nid: v1.1.0.ab\nevent: workflow.started\ndata: {"a":\ndata: 1}\n\n' +
    'event: token\ndata:no space\ndata:  two spaces\n\n');
  assert.deepEqual(r.retries, [2500]);
  assert.deepEqual(r.comments, ['keep-alive']);
  assert.deepEqual(r.events, [
    { type: 'workflow.started', id: 'v1.1.0.ab', data: '{"a":\n1}' },
    // the id stays in force for later events; exactly one space after the colon is dropped
    { type: 'token', id: 'v1.1.0.ab', data: 'no space\n two spaces' },
  ]);
});

test('CRLF, CR and LF line endings mix freely, also across chunks', () => {
  const r = parseEverySplit('id: 1\r\ndata: a\r\r\ndata: b\rdata: c\n\r\nevent: x\r\ndata\r\n\r\n');
  assert.deepEqual(r.events, [
    { type: 'message', id: '1', data: 'a' },
    { type: 'message', id: '1', data: 'b\nc' },
    // a field without a colon has an empty value: `data` alone is an empty data line
    { type: 'x', id: '1', data: '' },
  ]);
});

test('a block without data dispatches nothing but its id counts; an id with NUL is ignored', () => {
  const r = parseEverySplit('id: 7\n\nid: 8\0x\ndata: d\n\nid\ndata: e\n\n');
  assert.deepEqual(r.events, [
    { type: 'message', id: '7', data: 'd' },
    { type: 'message', id: '', data: 'e' }, // `id` with an empty value resets it
  ]);
});

test('retry takes digits only; unknown fields are ignored; event type resets per block', () => {
  const r = parseEverySplit('retry: 1x\nretry: -5\nretry:300\nfoo: bar\nevent: a\ndata: 1\n\ndata: 2\n\n');
  assert.deepEqual(r.retries, [300]);
  assert.deepEqual(r.events.map((e) => e.type), ['a', 'message']);
});

test('one leading BOM is skipped, a second one is content', () => {
  assert.deepEqual(parse(['\uFEFFdata: x\n\n']).events, [{ type: 'message', id: '', data: 'x' }]);
  assert.deepEqual(parse(['\uFEFF', '\uFEFFdata: x\n\n']).events, []); // field "\uFEFFdata"
});

test('a block cut off before its blank line is dropped and does not move the committed id', () => {
  const r = parse(['id: 1\ndata: one\n\nid: 2\nevent: token\ndata: tw'], '0');
  assert.deepEqual(r.events, [{ type: 'message', id: '1', data: 'one' }]);
  assert.equal(r.lastEventId, '2'); // what the standard's buffer says
  assert.equal(r.committedId, '1'); // where a resume must start: event 2 was never seen whole
  // the initial id is what events carry until the stream sends its own
  assert.equal(parse(['data: z\n\n'], 'v1.5.0.a').events[0].id, 'v1.5.0.a');
});

test('multi-byte text and long lines fed in small pieces', () => {
  const long = 'é'.repeat(50000);
  const text = `data: ${long}\n\n`;
  const chunks = [];
  for (let i = 0; i < text.length; i += 4093) chunks.push(text.slice(i, i + 4093));
  assert.deepEqual(parse(chunks).events, [{ type: 'message', id: '', data: long }]);
});
