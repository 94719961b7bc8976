/**
 * A Server-Sent Events reader for tests: a real HTTP request, the body parsed into events as the
 * EventSource spec does (`id`, `event`, `data`, `retry`, `:` comments, a blank line dispatches),
 * kept in order, with `next` to await one. A refused request resolves too, with its status and
 * JSON body, so refusal tests use the same helper.
 */
import http, { type IncomingHttpHeaders } from 'node:http';

export interface SseEvent {
  /** The `id:` of this event, if it had one. */
  id?: string;
  /** `message` unless the event named itself. */
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** A refusal's body (JSON parsed when it is JSON); undefined for a stream. */
  body?: unknown;
  events: SseEvent[];
  comments: string[];
  retry?: number;
  /** The last id received, as EventSource would send it back in Last-Event-ID. */
  lastEventId?: string;
  /** The first event after the previous `next` call's match (already received or future) matching `pred`. */
  next(pred?: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Default-type events' data, JSON parsed: the wire messages. */
  messages<T = { topic: string; seq: number; ts: number; data: unknown }>(): T[];
  /** Resolves when the response ends (`complete`: the body ended cleanly with its last chunk). */
  ended: Promise<{ complete: boolean }>;
  /** Stop reading (the socket backs up, as a slow client's does) and start again. */
  pause(): void;
  resume(): void;
  close(): void;
}

/** GET `url` as an SSE client; resolves once the response head has arrived (and, if refused, its body). */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const waiters: Array<() => void> = [];
      let cursor = 0;
      let done = false;
      const wake = () => {
        for (const w of waiters.splice(0)) w();
      };
      const ended = new Promise<{ complete: boolean }>((resolveEnd) => {
        res.on('end', () => ((done = true), wake(), resolveEnd({ complete: true })));
        res.on('aborted', () => ((done = true), wake(), resolveEnd({ complete: false })));
        res.on('error', () => ((done = true), wake(), resolveEnd({ complete: false })));
        res.on('close', () => ((done = true), wake(), resolveEnd({ complete: res.complete })));
      });
      const stream: SseStream = {
        status,
        headers: res.headers,
        events,
        comments,
        ended,
        next(pred = () => true, timeoutMs = 5000) {
          return new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`timed out waiting for an SSE event; last: ${JSON.stringify(events.slice(-3))}`)), timeoutMs);
            const check = () => {
              while (cursor < events.length) {
                const e = events[cursor++];
                if (pred(e)) return clearTimeout(timer), ok(e);
              }
              if (done) return clearTimeout(timer), fail(new Error(`stream ended while waiting for an event; last: ${JSON.stringify(events.slice(-3))}`));
              waiters.push(check);
            };
            check();
          });
        },
        messages: <T>() => events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as T),
        pause: () => res.pause(),
        resume: () => res.resume(),
        close: () => req.destroy(),
      };
      if (status !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            stream.body = JSON.parse(text);
          } catch {
            stream.body = text;
          }
          resolve(stream);
        });
        return;
      }
      // The EventSource parsing model: fields accumulate until a blank line dispatches them.
      let buffered = '';
      let pending: { id?: string; event?: string; data: string[] } = { data: [] };
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffered += text;
        const lines = buffered.split(/\r\n|\r|\n/);
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line === '') {
            if (pending.data.length > 0) events.push({ ...(pending.id !== undefined && { id: pending.id }), event: pending.event ?? 'message', data: pending.data.join('\n') });
            pending = { data: [] };
            continue;
          }
          if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') pending.data.push(value);
          else if (field === 'event') pending.event = value;
          else if (field === 'id') stream.lastEventId = pending.id = value;
          else if (field === 'retry' && /^\d+$/.test(value)) stream.retry = Number(value);
        }
        wake();
      });
      resolve(stream);
    });
    req.on('error', reject);
  });
}
