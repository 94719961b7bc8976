/**
 * SSE streams: `GET /sse/<pattern>[,<pattern>]`, a read-only tap over Server-Sent Events. The
 * stream starts with a welcome event, once every subscription is live, whose id is its start
 * position, so a stream that drops before any message resumes from where it began; messages
 * carry `id: <epoch>:<pos>` (sse-frame.ts). A `Last-Event-ID` resumes every pattern from that position in one replay merged in pos order
 * (Hub.resume); without one, the tap query (`snapshot`, `since`, `sinceTs`) works as for a tap.
 */
import type { Connection } from '../core/connection.ts';
import type { Hub, SubscribeOptions } from '../core/hub.ts';
import type { SseTransport } from '../core/sse-transport.ts';
import type { Session } from './session.ts';
import { streamFailed, streamWelcome } from './stream.ts';

/** A Last-Event-ID, parsed (sse-frame.ts parseSseId). */
export interface SsePosition {
  epoch: string;
  pos: number;
}

export class SseSession implements Session {
  constructor(
    private readonly hub: Hub,
    private readonly conn: Connection,
    private readonly transport: SseTransport,
    private readonly patterns: string[],
    private readonly options: SubscribeOptions,
    /** The client's Last-Event-ID, if it sent one. */
    private readonly lastEventId: SsePosition | null,
  ) {}

  start(): void {
    this.open().catch((err: unknown) => streamFailed(this.hub, this.conn, err));
  }

  /** SSE carries nothing from the client after the request. */
  onText(): void {}

  /** Subscribes every pattern; the welcome goes once all are live, before any message or reset. */
  private async open(): Promise<void> {
    const { hub, conn, patterns, options } = this;
    const resume = this.lastEventId;
    // The position is read before any subscription is in place, so nothing the stream misses is
    // before it (as `ts`, see TapSession). The same epoch resumes where it left off.
    const position = await hub.broker.position();
    // An id from the future (not one this epoch gave) must not hide the ids of what comes next.
    const start = resume && resume.epoch === hub.epoch ? Math.min(resume.pos, position) : position;
    if (conn.closed) return;
    this.transport.startAt(start);
    const accepted = (ts: number) => conn.sendJson(streamWelcome(hub, conn, ts));
    if (resume) await hub.resume(conn, patterns, { afterPos: resume.pos, epoch: resume.epoch, snapshot: options.snapshot, maxHz: options.maxHz, accepted });
    else await hub.subscribeAll(conn, patterns, { ...options, accepted });
  }
}
