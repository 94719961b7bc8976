/**
 * A `text/event-stream` decoder (the WHATWG "event stream interpretation"), fed the chunks of a
 * fetch() body as they arrive. Pure: no Node or DOM APIs beyond TextDecoder, so the browser
 * bundle and Node share it.
 */

/**
 * One dispatched event: `event` is `message` unless the stream named it. (`id:` lines are not
 * kept: HubClient resumes from its own per-topic seqs, not from Last-Event-ID.)
 */
export interface StreamEvent {
  event: string;
  data: string;
}

export interface EventStreamHandlers {
  event(ev: StreamEvent): void;
  /** A `retry:` field: the reconnect delay (ms) the server asks for. */
  retry(ms: number): void;
}

/**
 * Feed it decoded text in any chunking; it calls `handlers.event` once per complete event.
 * Lines may end in LF, CRLF or CR (a CR at a chunk's end waits for the next chunk). A pending
 * line longer than `maxLineChars` throws: a hub never sends one, so the stream is broken.
 *
 * @example
 * const parser = new EventStreamParser({ event: (e) => console.log(e.event, e.data), retry() {} });
 * parser.push('id: a:1\ndata: {"topic":"t"}\n\n');
 */
export class EventStreamParser {
  private pending = '';
  private data: string[] = [];
  private eventType = '';

  constructor(
    private readonly handlers: EventStreamHandlers,
    private readonly maxLineChars = 1 << 22,
  ) {}

  push(text: string): void {
    let buf = this.pending + text;
    let start = 0;
    for (;;) {
      const lf = buf.indexOf('\n', start);
      const cr = buf.indexOf('\r', start);
      if (lf < 0 && cr < 0) break;
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        if (cr === buf.length - 1) break; // a CRLF may be split across chunks
        end = cr;
        next = buf[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(buf.slice(start, end));
      start = next;
    }
    buf = buf.slice(start);
    if (buf.length > this.maxLineChars) throw new Error(`event stream line longer than ${this.maxLineChars} characters`);
    this.pending = buf;
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.retry(Number(value));
        break;
    }
  }

  private dispatch(): void {
    const { data, eventType } = this;
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return;
    this.handlers.event({ event: eventType || 'message', data: data.join('\n') });
  }
}
