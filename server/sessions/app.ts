/**
 * App mode (`hub.v1`): JSON requests with ids, each answered by exactly one ok or error reply.
 */
import type { ClientRequest, ErrorReply, RequestId } from '../../protocol/wire.ts';
import { parseRequest } from './parse.ts';
import { checkPublish, type Authenticator } from '../core/principal.ts';
import type { Connection } from '../core/connection.ts';
import { HubError } from '../../protocol/errors.ts';
import type { Hub } from '../core/hub.ts';
import type { Session } from './session.ts';
import { tsText, withMessages, type Envelope } from '../broker/broker.ts';
import { batchProblem, batchReplyFields, publishBatch, publishScanned, type BatchReply } from './batch.ts';
import { itemDataTexts, memberText } from './data-text.ts';
import { scanPub, scanPubs } from './publish-scan.ts';

/**
 * Spends `cost` of the connection's rate allowance; false when refused (the refusal, with `id`,
 * is sent and the connection closed at the strike limit).
 */
export type SpendRate = (cost: number, id?: RequestId) => boolean;

/** `{"op":"ok","id":..,"seq":..,"ts":..}`, the ack of a `pub`, built without an object or a stringify of one. */
export function publishedReply(id: RequestId, seq: number, ts: number): string {
  return `{"op":"ok","id":${idJson(id)},"seq":${seq},"ts":${tsText(ts)}}`;
}

/** `{"op":"ok","id":..,"results":[..],"failed":..}`, the reply to a `pubs` around its `fields` (batch.ts), built as publishedReply is. */
export function batchPublishedReply(id: RequestId, fields: string): string {
  return `{"op":"ok","id":${idJson(id)},${fields}}`;
}

const idJson = (id: RequestId): string => (typeof id === 'number' ? String(id) : JSON.stringify(id));

export class AppSession implements Session {
  constructor(
    private readonly hub: Hub,
    private readonly conn: Connection,
    private readonly auth: Authenticator,
    private readonly spend: SpendRate,
  ) {}

  start(): void {
    this.conn.sendJson({ op: 'welcome', v: 1, epoch: this.hub.epoch, node: this.hub.nodeId, role: this.conn.principal.role, maxPayload: this.hub.config.maxPayload });
  }

  onText(text: string): void {
    // The fast path (publish-scan.ts) for publishes in the usual shape; anything else is parsed.
    if (text.startsWith('{"op":"pubs"') ? this.publishScannedBatch(text) : text.startsWith('{"op":"pub",') && this.publishScannedOne(text)) return;
    const parsed = parseRequest(text);
    if (!parsed.ok) return this.error(parsed.id, new HubError(parsed.code, parsed.message));
    const { request } = parsed;
    if (request.op === 'pub') return this.publishOne(request.id, request.topic, memberText(text, 'data')!); // parseRequest saw a `data`
    if (request.op === 'pubs') return this.publishBatch(request, text);
    this.handle(request).then(
      (fields) => fields && this.conn.sendJson({ op: 'ok', id: request.id, ...fields }),
      (err: unknown) => this.error(request.id, err),
    );
  }

  /** Resolves with the ok reply's fields, or null when the handler replied itself. */
  private async handle(req: Exclude<ClientRequest, { op: 'pub' | 'pubs' }>): Promise<Record<string, unknown> | null> {
    const { hub, conn } = this;
    switch (req.op) {
      case 'ping':
        return { ts: Date.now() };
      case 'auth': {
        const result = await this.auth.authenticate(req.token);
        if (!result.ok) throw new HubError('unauthorized', result.reason);
        hub.reauthenticated(conn, result.principal); // a fresh token moves the expiry
        return { role: conn.principal.role };
      }
      case 'sub': {
        // The ok goes once the subscription is live and before any message of it (replayed or live).
        // `ts` is hub time from just before it was put in place: a resume passes it back as `sinceTs`.
        const accepted = (ts: number) => conn.sendJson({ op: 'ok', id: req.id, epoch: hub.epoch, ts });
        const { snapshot, since, sinceTs, epoch, maxHz } = req;
        await hub.subscribe(conn, req.topic, { snapshot, since, sinceTs, epoch, maxHz, accepted });
        return null;
      }
      case 'unsub':
        if (!hub.unsubscribe(conn, req.topic)) throw new HubError('not_subscribed', `not subscribed to '${req.topic}'`);
        return {};
      case 'history': {
        const page = await hub.history(req.topic, { since: req.since, limit: req.limit ?? 100 });
        conn.sendText(withMessages({ op: 'ok', id: req.id, epoch: page.epoch, lastSeq: page.lastSeq, truncated: page.truncated, more: page.more }, page.messages));
        return null;
      }
    }
  }

  /**
   * Publish one message (`data` as delivered, data-text.ts) and answer it: in this turn when the
   * hub can publish synchronously (memory broker: the ingest fast path, no promise round trips),
   * else once the broker has.
   */
  private publishOne(id: RequestId, rawTopic: string, json: string): void {
    const { hub, conn } = this;
    let topic: string;
    let env: Envelope | null;
    try {
      topic = checkPublish(rawTopic, conn.principal);
      env = hub.publishJsonNow(topic, json, conn);
    } catch (err) {
      return this.error(id, err);
    }
    if (env !== null) return conn.sendText(publishedReply(id, env.seq, env.ts));
    hub.publishJson(topic, json, conn).then(
      (e) => conn.sendText(publishedReply(id, e.seq, e.ts)),
      (err: unknown) => this.error(id, err),
    );
  }

  /**
   * `pubs`: refused whole (shape, MAX_BATCH_MESSAGES, rate) or published message by message
   * (batch.ts); answered in this turn when every message was published synchronously (memory
   * broker, no routed topic), else once the last one settles.
   */
  private publishBatch(req: Extract<ClientRequest, { op: 'pubs' }>, text: string): void {
    const { hub, conn } = this;
    const problem = batchProblem(req.messages, hub.config.maxBatchMessages);
    if (problem) return this.error(req.id, problem);
    // The frame paid one token; each further message pays one more (rates count messages).
    if (req.messages.length > 1 && !this.spend(req.messages.length - 1, req.id)) return;
    const reply = publishBatch(hub, conn.principal, req.messages, itemDataTexts(text), (err) => hub.logError(err, conn), conn);
    const answer = (r: BatchReply) => conn.sendText(batchPublishedReply(req.id, batchReplyFields(r)));
    if (reply instanceof Promise) reply.then(answer, (err: unknown) => this.error(req.id, err));
    else answer(reply);
  }

  /** `pub` in the usual shape (publish-scan.ts), published; false, with nothing done, for any other frame. */
  private publishScannedOne(text: string): boolean {
    const pub = scanPub(text);
    if (pub === null) return false;
    this.publishOne(pub.id, pub.topic, pub.data);
    return true;
  }

  /**
   * The `pubs` fast path (publish-scan.ts): a batch in the usual shape, to topics the hub publishes
   * synchronously, is answered here as publishBatch would answer it. False, with nothing done, for
   * any other frame: the general path then takes it.
   */
  private publishScannedBatch(text: string): boolean {
    const { hub, conn } = this;
    const batch = scanPubs(text, hub.config.maxBatchMessages);
    if (batch === null || !batch.topics.every((t) => hub.publishesNow(t))) return false;
    if (batch.topics.length > 1 && !this.spend(batch.topics.length - 1, batch.id)) return true;
    conn.sendText(batchPublishedReply(batch.id, publishScanned(hub, conn.principal, batch, (err) => hub.logError(err, conn), conn)));
    return true;
  }

  private error(id: RequestId | undefined, err: unknown): void {
    const reply: ErrorReply =
      err instanceof HubError
        ? { op: 'error', id, code: err.code, message: err.message }
        : { op: 'error', id, code: 'internal', message: 'internal error' };
    if (!(err instanceof HubError)) this.hub.logError(err, this.conn);
    this.conn.sendJson(reply);
  }
}
