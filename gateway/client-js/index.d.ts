// Type declarations of @flovyn/events-client (index.js). Shapes follow docs/contract.md.

/** A FlovynEvent as the gateway serves it (contract section 2). */
export interface FlovynEventData {
  id: string;
  tenant_id: string;
  workflow_execution_id: string | null;
  task_execution_id: string | null;
  parent_workflow_execution_id: string | null;
  event_type: string;
  source: string;
  data: unknown;
  timestamp_ms: number;
  correlation_id: string | null;
}

/** A StreamEvent (`token`, `progress`, `data`, `error`; named `stream_error` on the wire). */
export interface StreamEventData {
  workflow_execution_id: string;
  task_execution_id: string | null;
  sequence: number;
  type: 'token' | 'progress' | 'data' | 'error';
  payload: unknown;
  timestamp_ms: number;
}

export interface GapData {
  requested: string;
  resumed_from: string;
}

export interface EndData {
  reason: string;
}

/** One event of a stream. */
export interface StreamEvent<D = FlovynEventData | StreamEventData | GapData | EndData> {
  /** The SSE event name: a lifecycle type, `token`, `progress`, `data`, `stream_error`, `gap`, `end`. */
  type: string;
  /** The cursor (SSE `id:`) in force for this event. */
  id: string;
  /** The SSE data parsed as JSON (the text itself if it is not JSON). */
  data: D;
  /** The SSE data as received. */
  raw: string;
}

/** What a stream is doing, for status displays and logs. */
export interface StreamState {
  state: 'connecting' | 'open' | 'reconnecting' | 'closed';
  /** The cursor the next (re)connection resumes from ('' before the first event). */
  lastEventId: string;
  /**
   * reconnecting: 'network' | 'closed' | 'overloaded' | 'auth_expired' | 'unauthorized' | 'http' | 'idle';
   * closed: 'end' | 'aborted' | 'return' | 'error'.
   */
  reason?: string;
  /** reconnecting: how long the client waits before the next connection. */
  delayMs?: number;
  /** reconnecting after an HTTP answer: its status. */
  status?: number;
  /** reconnecting after `overloaded`/`auth_expired`/an HTTP error: the server's data or body. */
  data?: unknown;
  /** reconnecting after a network error: the error. */
  error?: unknown;
}

export interface StreamOptions {
  /** A workflow's stream (lifecycle and stream events merged). */
  workflowExecutionId?: string;
  /** With workflowExecutionId: the workflow and all its descendant workflows. */
  consolidated?: boolean;
  /** A task's stream. Not together with workflowExecutionId. */
  taskExecutionId?: string;
  /** Type patterns (contract section 4), as an array or a comma-separated string. */
  types?: string | string[];
  /** Tenant stream only: narrow to one source. */
  source?: string;
  /** Where to start when there is no cursor: epoch ms, a Date, or RFC 3339 text. */
  since?: number | string | Date;
  /** Stop at this stored time. */
  until?: number | string | Date;
  /** Resume right after this cursor (an event's `id`, or a history event's `cursor`). */
  lastEventId?: string;
  /** Ask the server to send `end` after the workflow's or task's terminal event. */
  closeOnTerminal?: boolean;
  /** Aborting ends the iterator quietly (no error). */
  signal?: AbortSignal;
  onState?: (state: StreamState) => void;
}

export interface HistoryOptions {
  types?: string | string[];
  workflowExecutionId?: string;
  taskExecutionId?: string;
  source?: string;
  since?: number | string | Date;
  until?: number | string | Date;
  /** The cursor from the previous page's `next`. */
  after?: string;
  /** 1..the server's maximum. */
  limit?: number;
  signal?: AbortSignal;
}

export interface HistoryPage {
  events: Array<(FlovynEventData | StreamEventData) & { seq: number; cursor: string }>;
  /** Pass as `after` for the following page. */
  next: string;
}

export interface PublishResult {
  results: Array<
    | { index: number; id?: string; sequence?: number; seq: number; duplicate: boolean }
    | { index: number; error: { code: string; message: string } }
  >;
}

/** A FlovynEvent to ingest: tenant_id may be left out (the token's tenant is used). */
export interface FlovynEventInput {
  event_type: string;
  id?: string;
  tenant_id?: string;
  workflow_execution_id?: string | null;
  task_execution_id?: string | null;
  parent_workflow_execution_id?: string | null;
  source?: string;
  data?: unknown;
  timestamp_ms?: number;
  correlation_id?: string | null;
}

export interface StreamEventInput {
  sequence: number;
  type: 'token' | 'progress' | 'data' | 'error';
  payload: unknown;
  workflow_execution_id?: string;
  task_execution_id?: string | null;
  timestamp_ms?: number;
}

export interface GetTokenInfo {
  /** 'initial' for the first request; 'auth_expired' or 'unauthorized' when the token was refused. */
  reason: 'initial' | 'auth_expired' | 'unauthorized';
  /** The token that was refused. */
  previous: string | null;
}

export interface FlovynEventsOptions {
  /** The gateway; a path prefix is kept. Defaults to the page's origin in a browser. */
  baseUrl?: string;
  /** Resolves to a JWT. Asked once, then again only when the gateway refuses the token. */
  getToken?: (info: GetTokenInfo) => string | Promise<string>;
  /** Extra headers on every request (e.g. X-Flovyn-Tenant for a gateway in --auth none mode). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** Wait before a reconnect until the server sends its own `retry:` (default 1000 ms). */
  retryMs?: number;
  /** Upper bound of the backoff after failed connections (default 30000 ms). */
  maxRetryMs?: number;
  /** Reconnect when nothing, not even a keep-alive, arrived for this long (default 45000; 0 = never). */
  idleTimeoutMs?: number;
}

export declare class FlovynEventsError extends Error {
  name: 'FlovynEventsError';
  /** HTTP status (0 when there was no HTTP answer). */
  status: number;
  /** The server's answer: usually `{error: {code, message}}`, plus `results` on ingest. */
  body: unknown;
  /** body.error.code when present. */
  code: string | null;
  method: string;
  url: string;
  /** Seconds from Retry-After (429, 503), or null. */
  retryAfter: number | null;
}

export declare class FlovynEvents {
  constructor(options?: FlovynEventsOptions);
  readonly baseUrl: string;
  stream(options?: StreamOptions): AsyncGenerator<StreamEvent, void, undefined>;
  publish(events: FlovynEventInput | FlovynEventInput[], options?: { signal?: AbortSignal }): Promise<PublishResult>;
  publishStreamEvents(
    workflowExecutionId: string,
    items: StreamEventInput | StreamEventInput[],
    options?: { signal?: AbortSignal },
  ): Promise<PublishResult>;
  history(options?: HistoryOptions): Promise<HistoryPage>;
}

export interface SseEvent {
  type: string;
  id: string;
  data: string;
}

/** The text/event-stream parser the client uses (WHATWG rules); feed it decoded text. */
export declare class SseParser {
  constructor(options?: {
    onEvent?: (event: SseEvent) => void;
    onRetry?: (ms: number) => void;
    onComment?: (text: string) => void;
    lastEventId?: string;
  });
  /** The standard's last-event-ID buffer. */
  lastEventId: string;
  /** The id in force at the last blank line: where a resume must start. */
  committedId: string;
  feed(text: string): void;
  end(): void;
}

export default FlovynEvents;
