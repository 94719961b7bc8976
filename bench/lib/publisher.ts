/**
 * The publisher side of the load generator: one or more connections that send messages at a
 * target rate. Messages due per 1 ms tick are sent together (corked), so high rates are hit
 * precisely without one syscall per message. Forms:
 *
 * - `envelope`: the delivered frame itself (peers relay it verbatim);
 * - `hub`: tickhub's app-mode `pub`, one acked request per message;
 * - `hub-batch`: app-mode `pubs`, the messages due in a tick in requests of at most `batch`;
 * - `socketio`: `42["p",<envelope>]`;
 * - `http`: `POST /api/publish/<topic>` per message, keep-alive;
 * - `http-batch`: `POST /api/publish` with the tick's messages, at most `batch` per request.
 *
 * HTTP/1.1 clients do not pipeline (Node's Agent sends a socket's next request only after its
 * response), so an HTTP publisher is a pool of `httpSockets` keep-alive sockets per connection,
 * each with one request in flight: as many requests in flight as sockets, never more (a request
 * waiting in the Agent's queue would only age). In the per-message form a socket's next due
 * request starts as soon as its response ends, not at the next tick.
 *
 * Message `i` of a run goes to `topics[i % topics.length]` (the bench topic by default), on
 * connection `i % connections`.
 */
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { nowMs, sleep } from './clock.ts';
import { BENCH_TOPIC, batchItemJson, dataJson, envelopeJson, hubPublishJson, socketIoPublishPacket } from './payload.ts';

export type PublishForm = 'envelope' | 'hub' | 'hub-batch' | 'socketio' | 'http' | 'http-batch';

/** How the publisher reaches a server and frames a message for it. */
export interface PublisherTarget {
  /** `ws://...` for the WebSocket forms, `http://host:port` for the HTTP ones. */
  url: string;
  /** WebSocket subprotocol (tickhub app mode: `hub.v1`). */
  protocol?: string;
  format: PublishForm;
  /** Publisher connections (WebSocket) or HTTP publishers (each a pool of `httpSockets`); default 1. */
  connections?: number;
  /** HTTP forms: keep-alive sockets per connection, one request in flight on each; default 8. */
  httpSockets?: number;
  /** Most messages per batch request (batch forms); default 100. */
  batch?: number;
  /**
   * Batch forms: send only whole batches of `batch` (the run's last may be short), as a fast
   * producer's are, at any rate. Default false: each 1 ms tick sends what is due, which at 200
   * msg/s (the instruction counts) is one message.
   */
  fullBatches?: boolean;
  /** Topics the messages cycle through; default the bench topic. */
  topics?: string[];
  /** Bearer token for the HTTP forms. */
  token?: string;
}

/** Outcome of one publishing run. */
export interface PublishResult {
  sent: number;
  /** Requests (frames or HTTP requests) that carried them. */
  requests: number;
  /** nowMs() of the first and last send. */
  startAt: number;
  endAt: number;
  /** Acknowledged and refused messages seen so far in this run (acked forms only). */
  acks: number;
  errors: number;
  firstError: string | null;
}

/** Replies seen since a run started. */
export interface ReplyCounts {
  acks: number;
  errors: number;
  firstError: string | null;
  /** HTTP forms: requests still waiting for a response. */
  inFlight: number;
}

interface SocketLike {
  cork(): void;
  uncork(): void;
}

/** Keep-alive sockets per HTTP publisher, as a client's connection pool would hold. */
export const DEFAULT_HTTP_SOCKETS = 8;

/**
 * Counts the messages a reply acknowledges or refuses: `{"op":"ok",...,"seq"}` is one,
 * `{"op":"ok",...,"results":[...]}` is one per result, `{"op":"error"}` is one refusal (of a
 * whole request: a refused batch counts its size, given by `sizeOf`).
 */
export function countReply(text: string, sizeOf: (id: unknown) => number = () => 1): { acks: number; errors: number } {
  if (text.startsWith('{"op":"ok"')) {
    if (!text.includes('"results":')) return { acks: 1, errors: 0 };
    const { results } = JSON.parse(text) as { results: Array<{ error?: unknown }> };
    let errors = 0;
    for (const r of results) if (r.error) errors++;
    return { acks: results.length - errors, errors };
  }
  if (text.includes('"op":"error"')) {
    const { id } = JSON.parse(text) as { id?: unknown };
    return { acks: 0, errors: sizeOf(id) };
  }
  return { acks: 0, errors: 0 };
}

/** A run's progress: messages sent so far out of `total`, due at `rate` from `startAt`. */
interface Run {
  rate: number;
  total: number;
  startAt: number;
  /** When the last message was sent. */
  endAt: number;
  sent: number;
  requests: number;
}

export class Publisher {
  private sockets: WebSocket[] = [];
  private agent: Agent | null = null;
  private seq = 0;
  private requestId = 0;
  private acks = 0;
  private errors = 0;
  private inFlight = 0;
  private firstError: string | null = null;
  /** The run in progress, if any. */
  private running: Run | null = null;
  /** Batch forms: the size of each request still unanswered, by id. */
  private readonly batchSizes = new Map<number, number>();
  private readonly topics: string[];
  private readonly batch: number;
  private readonly connections: number;
  /** HTTP forms: sockets in the pool, and so the most requests in flight. */
  private readonly httpSockets: number;
  /** Messages to wait for before a send: a whole batch (fullBatches), else one. */
  private readonly sendAt: number;

  constructor(private readonly target: PublisherTarget) {
    this.topics = target.topics?.length ? target.topics : [BENCH_TOPIC];
    this.batch = Math.max(1, target.batch ?? 100);
    this.connections = Math.max(1, target.connections ?? 1);
    this.httpSockets = this.connections * Math.max(1, target.httpSockets ?? DEFAULT_HTTP_SOCKETS);
    this.sendAt = target.fullBatches && (target.format === 'hub-batch' || target.format === 'http-batch') ? this.batch : 1;
  }

  private get http(): boolean {
    return this.target.format === 'http' || this.target.format === 'http-batch';
  }

  /** Connects every connection; for tickhub waits for `welcome`, for socket.io for the namespace connect ack. */
  async open(timeoutMs = 10_000): Promise<void> {
    if (this.http) {
      this.agent = new Agent({ keepAlive: true, maxSockets: this.httpSockets });
      return;
    }
    this.sockets = await Promise.all(Array.from({ length: this.connections }, () => this.openSocket(timeoutMs)));
  }

  private openSocket(timeoutMs: number): Promise<WebSocket> {
    const { url, protocol, format } = this.target;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocol ? [protocol] : [], { perMessageDeflate: false });
      const timer = setTimeout(() => reject(new Error(`publisher connect timeout: ${url}`)), timeoutMs);
      const ready = (): void => {
        clearTimeout(timer);
        resolve(ws);
      };
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('close', (code, reason) => {
        if (!this.firstError) this.firstError = `publisher closed ${code} ${reason.toString()}`;
      });
      if (format === 'envelope') ws.on('open', ready);
      ws.on('message', (raw: WebSocket.RawData) => {
        const text = raw.toString();
        if (format === 'hub' || format === 'hub-batch') {
          if (text.includes('"op":"welcome"')) return ready();
          this.count(text);
        } else if (format === 'socketio') {
          if (text.startsWith('0')) ws.send('40');
          else if (text === '2') ws.send('3');
          else if (text.startsWith('40')) ready();
          else if (text.startsWith('44') && !this.firstError) this.firstError = text.slice(0, 300);
        }
      });
    });
  }

  private count(text: string): void {
    const { acks, errors } = countReply(text, (id) => (typeof id === 'number' ? (this.batchSizes.get(id) ?? 1) : 1));
    if (this.target.format === 'hub-batch') {
      const m = /^\{"op":"(?:ok|error)","id":(\d+)/.exec(text);
      if (m) this.batchSizes.delete(Number(m[1]));
    }
    this.acks += acks;
    this.errors += errors;
    if (errors > 0 && !this.firstError) this.firstError = text.slice(0, 300);
  }

  /** Publishes at `rate` msg/s for `durationMs`; resolves when the last message is written. */
  async run(rate: number, durationMs: number): Promise<PublishResult> {
    // No sockets at all (open() failed or never ran) is not open either.
    if (!this.http && (this.sockets.length === 0 || !this.sockets.every((ws) => ws.readyState === WebSocket.OPEN))) throw new Error('publisher not open');
    this.acks = 0;
    this.errors = 0;
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const startAt = nowMs();
    const run: Run = { rate, total, startAt, endAt: startAt, sent: 0, requests: 0 };
    this.running = run;
    try {
      while (run.sent < total) {
        this.sendDue(run);
        if (run.sent < total) await sleep(1);
      }
    } finally {
      this.running = null;
    }
    return { sent: run.sent, requests: run.requests, startAt: run.startAt, endAt: run.endAt, acks: this.acks, errors: this.errors, firstError: this.firstError };
  }

  /**
   * Sends what is due of `run` now. Called each tick, and by a per-message HTTP response as it
   * frees its socket: waiting for the next tick would cap each socket near one request per
   * millisecond, a limit of the generator, not of the server.
   */
  private sendDue(run: Run): void {
    const t = nowMs();
    // +1: the first message goes out at t = 0, the last one at t = (total - 1) / rate.
    let due = Math.min(run.total, Math.floor(((t - run.startAt) * run.rate) / 1000) + 1);
    if (due < run.total) due = run.sent + Math.floor((due - run.sent) / this.sendAt) * this.sendAt; // whole batches only
    if (due <= run.sent) return;
    // HTTP may start fewer than due (every socket busy): the rest waits, and the rate falls behind.
    const [messages, reqs] = this.http ? this.sendHttp(run.sent, due, t) : [due - run.sent, this.sendWs(run.sent, due, t)];
    run.sent += messages;
    run.requests += reqs;
    if (messages > 0) run.endAt = t;
  }

  /**
   * An HTTP response ended: a per-message publisher sends what is due at once. A batch publisher
   * waits for the tick, so its requests carry the tick's messages rather than one or two.
   */
  private socketFreed(): void {
    if (this.running && this.target.format === 'http') this.sendDue(this.running);
  }

  /** Sends messages [from, to) of the run over the WebSocket connections; returns the frames sent. */
  private sendWs(from: number, to: number, t: number): number {
    const { format } = this.target;
    const n = this.sockets.length;
    for (const ws of this.sockets) (ws as unknown as { _socket: SocketLike })._socket.cork();
    let frames = 0;
    if (format === 'hub-batch') {
      // Each connection gets whole batches; a batch holds consecutive messages.
      for (let i = from, c = 0; i < to; i += this.batch, c++) {
        const end = Math.min(to, i + this.batch);
        const items: string[] = [];
        for (let j = i; j < end; j++) items.push(batchItemJson(++this.seq, t, this.topics[j % this.topics.length]));
        const id = ++this.requestId;
        this.batchSizes.set(id, end - i);
        this.sockets[c % n].send(`{"op":"pubs","id":${id},"messages":[${items.join(',')}]}`);
        frames++;
      }
    } else {
      const encode = format === 'hub' ? hubPublishJson : format === 'socketio' ? socketIoPublishPacket : envelopeJson;
      for (let i = from; i < to; i++) {
        this.sockets[i % n].send(encode(++this.seq, t, this.topics[i % this.topics.length]));
        frames++;
      }
    }
    for (const ws of this.sockets) (ws as unknown as { _socket: SocketLike })._socket.uncork();
    return frames;
  }

  /** How many of `wanted` messages the HTTP forms may start now: one request per free socket. */
  private httpRoom(wanted: number): number {
    const free = Math.max(0, this.httpSockets - this.inFlight);
    return this.target.format === 'http-batch' ? Math.min(wanted, free * this.batch) : Math.min(wanted, free);
  }

  /** Starts HTTP requests for messages [from, to) of the run, as many as the in-flight cap allows: [messages, requests]. */
  private sendHttp(from: number, to: number, t: number): [number, number] {
    const count = this.httpRoom(to - from);
    let requests = 0;
    if (this.target.format === 'http-batch') {
      for (let i = from; i < from + count; i += this.batch) {
        const end = Math.min(from + count, i + this.batch);
        const items: string[] = [];
        for (let j = i; j < end; j++) items.push(batchItemJson(++this.seq, t, this.topics[j % this.topics.length]));
        this.post('/api/publish', `{"messages":[${items.join(',')}]}`, end - i);
        requests++;
      }
    } else {
      for (let i = from; i < from + count; i++) {
        this.post(`/api/publish/${this.topics[i % this.topics.length]}`, dataJson(++this.seq, t), 1);
        requests++;
      }
    }
    return [count, requests];
  }

  private post(path: string, body: string, messages: number): void {
    this.inFlight++;
    const req = request(`${this.target.url}${path}`, {
      method: 'POST',
      agent: this.agent!,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(this.target.token && { authorization: `Bearer ${this.target.token}` }) },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        this.inFlight--;
        this.socketFreed();
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) {
          this.errors += messages;
          this.firstError ??= `HTTP ${res.statusCode} ${text.slice(0, 300)}`;
        } else if (messages > 1 || text.includes('"results":')) {
          const { acks, errors } = countReply(`{"op":"ok",${text.slice(1)}`);
          this.acks += acks;
          this.errors += errors;
          if (errors > 0) this.firstError ??= text.slice(0, 300);
        } else this.acks++;
      });
    });
    req.on('error', (err) => {
      this.inFlight--;
      this.socketFreed();
      this.errors += messages;
      this.firstError ??= `HTTP ${err.message}`;
    });
    req.end(body);
  }

  /** Replies seen since the last run started (acks arrive after the run resolves). */
  replies(): ReplyCounts {
    return { acks: this.acks, errors: this.errors, firstError: this.firstError, inFlight: this.inFlight };
  }

  /** Closes the connections. */
  close(): void {
    for (const ws of this.sockets) ws.close();
    this.sockets = [];
    this.agent?.destroy();
    this.agent = null;
  }
}
