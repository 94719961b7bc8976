/**
 * The core: who is subscribed to what, and fan-out. A message from the broker is framed once and
 * the same Buffer is queued to every matching connection; nothing per subscriber but the append.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { HubConfig, OverflowPolicy } from '../config.ts';
import { canPublish, type Principal } from '../auth.ts';
import { BrokerUnavailableError, type Broker, type Envelope, type HistoryPage, type HistoryQuery, type LostNotice } from '../broker/broker.ts';
import type { ChatData, ErrorCode, ResetFrame, SinceSpec } from '../../protocol/wire.ts';
import { checkChatData, escapeControls, nickProblem } from '../chat/rules.ts';
import { CloseCode, Connection, type RenderFormat, type Subscription } from './connection.ts';
import { DueQueue } from './due-queue.ts';
import { Flusher, frameText } from './outbox.ts';
import { isPattern, isSysTopic, matches, topicError } from '../../protocol/topics.ts';
import { SubscriptionIndex } from './subscription-index.ts';
import { guarded } from '../guard.ts';
import { AddressSlots, type AddressSlot } from './address-slots.ts';

/** A refusal the edge turns into an error frame or HTTP error. */
export class HubRefusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface SubscribeOptions {
  snapshot?: number;
  since?: SinceSpec;
  /** Replay topics matching the pattern that `since` does not list, from this hub time (ms). */
  sinceTs?: number;
  epoch?: string;
  maxHz?: number;
  format?: RenderFormat;
  /** Called once the subscription is in place, before any replayed message is queued, with the hub time it took effect. */
  accepted?: (ts: number) => void;
}

export interface TopicInfo {
  topic: string;
  subscribers: number;
  messages: number;
  /** Messages per second over the last second. */
  rate: number;
}

export interface HubCounters {
  /** Messages published through this hub node. */
  messagesIn: number;
  /** Messages queued to subscribers (one per subscriber per message). */
  deliveries: number;
  /** Messages replaced by a newer one of their topic for a congested consumer. */
  conflated: number;
  slowConsumerCloses: number;
  bytesOut: number;
}

interface TopicCounter {
  messages: number;
  deliveries: number;
  lastSecond: number;
  rate: number;
}

/** Live messages a subscription may buffer while its replay is being sent. */
const MAX_REPLAY_BUFFER = 100_000;
/** Throttled (maxHz) subscriptions are checked this often. */
const THROTTLE_TICK_MS = 5;
/** The heartbeat visits 1/HEARTBEAT_SLICES of the connections every HEARTBEAT_MS/HEARTBEAT_SLICES. */
const HEARTBEAT_SLICES = 10;

export class Hub {
  readonly connections = new Set<Connection>();
  /** Totals; conflated and bytesOut here cover closed connections only (see stats()). */
  readonly counters: HubCounters = { messagesIn: 0, deliveries: 0, conflated: 0, slowConsumerCloses: 0, bytesOut: 0 };
  private readonly index = new SubscriptionIndex<Subscription>();
  private readonly flusher: Flusher;
  private readonly policyCache = new Map<string, OverflowPolicy>();
  private readonly topicCounts = new Map<string, TopicCounter>();
  /** This node's chat members (nick -> connection); the cluster-wide registry is broker.presence. */
  private readonly chatUsers = new Map<string, Connection>();
  private readonly throttled = new Set<Subscription>();
  /** Connections per remote address, for MAX_CONNECTIONS_PER_IP: reserved at admission, released at detach. */
  private readonly perIp = new AddressSlots();
  private readonly slotOf = new WeakMap<Connection, AddressSlot>();
  private throttleTimer: ReturnType<typeof setInterval> | null = null;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private stamp = 0;
  private heartbeatTick = 0;
  private attached = 0;
  private readonly startedAt = Date.now();
  private guestCounter = 0;
  /** Credential expiries of every connection, behind one timer; stale entries are skipped. */
  private readonly expiries: DueQueue<{ conn: Connection; at: number }>;

  constructor(
    readonly config: HubConfig,
    readonly broker: Broker,
    private readonly log: Logger,
  ) {
    this.flusher = new Flusher(config.flushWindowMs);
    this.expiries = new DueQueue(log, 'credential expiry', (entry) => this.expire(entry.conn, entry.at));
    broker.onDeliver((env) => this.deliver(env));
    broker.onLost((notice) => this.onBrokerLost(notice));
    broker.presence.onExpired((nicks) => {
      for (const nick of nicks) this.announce(nick, 'left', 'leave');
    });
    this.timers.push(setInterval(guarded(log, 'heartbeat', () => this.heartbeat()), config.heartbeatMs / HEARTBEAT_SLICES).unref());
    this.timers.push(setInterval(guarded(log, 'topic rates', () => this.rollRates()), 1000).unref());
  }

  get epoch(): string {
    return this.broker.epoch;
  }

  get nodeId(): string {
    return this.broker.nodeId;
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.startedAt) / 1000);
  }

  /** Create and register a connection for an upgraded socket; it takes over `slot` (from reserveConnection). */
  attach(ws: Connection['ws'], mode: Connection['mode'], principal: Principal, slot: AddressSlot): Connection {
    const conn = new Connection(ws, mode, principal, slot.remote, this.config.outboxLimitBytes, this.flusher);
    conn.heartbeatSlot = this.attached++ % HEARTBEAT_SLICES;
    this.connections.add(conn);
    this.slotOf.set(conn, slot);
    ws.on('pong', () => (conn.alive = true));
    return conn;
  }

  /** Forget a closed connection: its subscriptions and its chat presence. */
  detach(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    this.slotOf.get(conn)?.release();
    conn.closed = true;
    this.counters.conflated += conn.outbox.stats.conflated;
    this.counters.bytesOut += conn.outbox.stats.bytesOut;
    for (const sub of conn.subs.values()) this.dropSubscription(sub);
    conn.subs.clear();
    // Every nick it holds, not only the current one; claims still in flight release themselves.
    for (const nick of conn.nicks) {
      const current = nick === conn.nick && this.chatUsers.get(nick) === conn;
      if (this.chatUsers.get(nick) === conn) this.chatUsers.delete(nick);
      this.releaseNick(conn, nick).then(() => current && this.announce(nick, 'left', 'leave'));
    }
  }

  // ---- credential lifetime -------------------------------------------------------------------

  /** Close `conn` when its credential expires (call on open and whenever its principal changes). */
  watchExpiry(conn: Connection): void {
    const at = conn.principal.expiresAt;
    if (at === undefined || conn.closed) return;
    this.expiries.add(performance.now() + (at - Date.now()), { conn, at });
  }

  /** An expiry fell due; it is stale if the connection has since moved on to another credential. */
  private expire(conn: Connection, at: number): void {
    if (conn.closed || conn.principal.expiresAt !== at) return;
    const message = 'your credential expired; reconnect with a fresh token (app mode: send auth with a fresh token before it expires)';
    if (conn.mode === 'line') conn.sendText(`! ${message}`);
    else conn.sendJson({ op: 'error', code: 'token_expired', message });
    conn.close(CloseCode.credentialExpired, 'credential expired');
  }

  /** `ok`, or `degraded` while the broker's backend is unreachable. */
  get brokerStatus(): 'ok' | 'degraded' {
    return this.broker.status;
  }

  /**
   * The broker lost messages it cannot replay live (a new epoch, or a gap already trimmed).
   * Affected connections are closed with 1012: clients reconnect (to any node) and resume, and
   * the resume either fills the gap from history or answers with an explicit `reset`.
   */
  private onBrokerLost({ topics, reason }: LostNotice): void {
    this.log.warn({ topics, reason, epoch: this.epoch }, 'broker lost messages; closing affected connections so they resume');
    for (const conn of this.connections) {
      const affected = topics === null || [...conn.subs.keys()].some((p) => topics.some((t) => matches(p, t)));
      if (affected) conn.close(CloseCode.serviceRestart, reason === 'epoch' ? 'history lost (new epoch); resume' : 'messages lost; resume');
    }
  }

  // ---- publishing ----------------------------------------------------------------------------

  /**
   * Reserve one of `remote`'s MAX_CONNECTIONS_PER_IP slots, synchronously, before any await of the
   * admission: null when they are all taken (by open or still-opening connections).
   */
  reserveConnection(remote: string): AddressSlot | null {
    return this.perIp.take(remote, this.config.maxConnectionsPerIp);
  }

  /** Check that `principal` may publish to `topic`; returns the topic. */
  checkPublish(topic: unknown, principal: Principal): string {
    const problem = topicError(topic);
    if (problem !== null || typeof topic !== 'string') throw new HubRefusal('bad_topic', problem ?? 'bad topic');
    if (isSysTopic(topic)) throw new HubRefusal('forbidden', '$sys topics are published by the hub only');
    if (!canPublish(principal, topic)) {
      throw new HubRefusal(
        'forbidden',
        topic === 'chat'
          ? `role ${principal.role} may not chat (operator or above)`
          : `role ${principal.role} may not publish to '${topic}' (needs a publisher credential covering it: ?token=, the auth op, or Bearer)`,
      );
    }
    return topic;
  }

  /** Publish a checked message; resolves with its envelope (seq, ts). Chat goes through the chat rule. */
  async publish(topic: string, data: unknown, origin?: Connection): Promise<Envelope> {
    if (topic === 'chat') return this.publishChat(data, origin);
    return this.publishData(topic, data, origin);
  }

  private async publishData(topic: string, data: unknown, origin?: Connection): Promise<Envelope> {
    const json = JSON.stringify(data);
    if (json === undefined) throw new HubRefusal('bad_request', 'data must be JSON');
    this.counters.messagesIn++;
    try {
      return await this.broker.publish(topic, json, origin?.id);
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw new HubRefusal('unavailable', 'the message broker is unreachable; not published, retry');
      throw err;
    }
  }

  /**
   * Chat `{nick?, text}` under the chat rule. A nick held by someone is theirs: line-mode clients
   * speak under their own; an app-mode client speaking under a nick claims it for its connection
   * (a guest nick if it names none); an HTTP post may use a nick only while nobody holds it.
   */
  private async publishChat(data: unknown, origin?: Connection): Promise<Envelope> {
    const checked = checkChatData(data);
    if (!checked.ok) throw new HubRefusal('bad_request', checked.problem);
    const { text } = checked.chat;
    if (origin?.mode === 'line') {
      if (!origin.nick) throw new HubRefusal('unavailable', 'not in chat yet; try again');
      return this.publishData('chat', { nick: origin.nick, text } satisfies ChatData, origin);
    }
    if (origin) {
      const wanted = checked.chat.nick;
      const nick = await this.inNickOrder(origin, async () => {
        if (wanted === undefined) return origin.nick ?? (await this.claimGuest(origin));
        if (wanted !== origin.nick) await this.rename(origin, wanted);
        return wanted;
      });
      return this.publishData('chat', { nick, text } satisfies ChatData, origin);
    }
    const nick = checked.chat.nick ?? 'anonymous';
    if (!(await this.unavailableAsRefusal(() => this.broker.presence.claim(nick, HTTP_SPEAKER)))) {
      throw new HubRefusal('forbidden', `nick '${nick}' is held by a chat user; pick another`);
    }
    // A check, not a hold: two HTTP posts under one free nick both pass.
    await this.broker.presence.release(nick, HTTP_SPEAKER).catch((err) => this.log.warn({ err, nick }, 'presence release failed'));
    return this.publishData('chat', { nick, text } satisfies ChatData);
  }

  // ---- fan-out -------------------------------------------------------------------------------

  private deliver(env: Envelope): void {
    const counter = this.countTopic(env.topic);
    const subs = this.index.match(env.topic);
    if (subs.length === 0) return;
    const deliveriesBefore = this.counters.deliveries;
    const stamp = ++this.stamp;
    const policy = this.policyFor(env.topic);
    let frame: Buffer | undefined;
    let chatLine: Buffer | undefined;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      const conn = sub.conn;
      if (conn.lastStamp === stamp) continue; // already queued via an overlapping pattern
      conn.lastStamp = stamp;
      if (sub.replayBuffer) {
        this.bufferDuringReplay(sub, env);
        continue;
      }
      if (sub.floor && this.belowFloor(sub, env)) continue;
      if (sub.maxHz > 0 && !this.throttleAdmits(sub, env)) continue;
      if (sub.format === 'chat-line') {
        if (env.origin === conn.id) continue; // chat is not echoed to its sender
        chatLine ??= frameText(renderChatLine(env));
        if (conn.pushMessage(chatLine, env.topic, policy) === 'overflow') this.counters.slowConsumerCloses++;
      } else {
        frame ??= frameText(env.json);
        if (conn.pushMessage(frame, env.topic, policy) === 'overflow') this.counters.slowConsumerCloses++;
      }
      this.counters.deliveries++;
    }
    counter.deliveries += this.counters.deliveries - deliveriesBefore;
  }

  private policyFor(topic: string): OverflowPolicy {
    let policy = this.policyCache.get(topic);
    if (!policy) {
      policy = this.config.overflowPolicies.find((r) => matches(r.pattern, topic))?.policy ?? 'disconnect';
      if (this.policyCache.size > 10_000) this.policyCache.clear();
      this.policyCache.set(topic, policy);
    }
    return policy;
  }

  /** True if the replay already sent `env`; the first newer message of a topic lifts its floor. */
  private belowFloor(sub: Subscription, env: Envelope): boolean {
    const floor = sub.floor!.get(env.topic);
    if (floor === undefined) return false;
    if (env.seq <= floor) return true;
    sub.floor!.delete(env.topic);
    if (sub.floor!.size === 0) sub.floor = null;
    return false;
  }

  private bufferDuringReplay(sub: Subscription, env: Envelope): void {
    sub.replayBuffer!.push(env);
    if (sub.replayBuffer!.length > MAX_REPLAY_BUFFER) {
      this.counters.slowConsumerCloses++;
      sub.conn.close(CloseCode.policy, 'slow consumer (replay)');
    }
  }

  // ---- maxHz ---------------------------------------------------------------------------------

  /** True if `env` may go now; otherwise it is held back as the topic's latest value. */
  private throttleAdmits(sub: Subscription, env: Envelope): boolean {
    const now = performance.now();
    const next = sub.nextSendAt!.get(env.topic) ?? 0;
    if (now >= next && !sub.heldBack!.has(env.topic)) {
      sub.nextSendAt!.set(env.topic, now + 1000 / sub.maxHz);
      return true;
    }
    sub.heldBack!.set(env.topic, env);
    this.throttled.add(sub);
    this.throttleTimer ??= setInterval(() => this.releaseThrottled(), THROTTLE_TICK_MS);
    return false;
  }

  private releaseThrottled(): void {
    const now = performance.now();
    for (const sub of this.throttled) {
      if (sub.conn.closed) {
        this.throttled.delete(sub);
        continue;
      }
      for (const [topic, env] of sub.heldBack!) {
        if (now < (sub.nextSendAt!.get(topic) ?? 0)) continue;
        sub.heldBack!.delete(topic);
        sub.nextSendAt!.set(topic, now + 1000 / sub.maxHz);
        sub.conn.pushMessage(frameText(env.json), topic, this.policyFor(topic));
      }
      if (sub.heldBack!.size === 0) this.throttled.delete(sub);
    }
    if (this.throttled.size === 0 && this.throttleTimer) {
      clearInterval(this.throttleTimer);
      this.throttleTimer = null;
    }
  }

  // ---- subscriptions -------------------------------------------------------------------------

  /**
   * Subscribe `conn` to `pattern`. With `snapshot` or `since`, history is sent first and live
   * messages published meanwhile are buffered, then sent without gap or duplicate. A `since`
   * that cannot be honoured (other epoch, trimmed) gets a `reset` frame and a fresh snapshot.
   */
  async subscribe(conn: Connection, pattern: string, options: SubscribeOptions = {}): Promise<void> {
    const problem = topicError(pattern, true);
    if (problem) throw new HubRefusal('bad_topic', problem);
    const maxHz = options.maxHz ?? 0;
    if (!(typeof maxHz === 'number' && maxHz >= 0 && maxHz <= 1000)) throw new HubRefusal('bad_request', 'maxHz must be a number from 0 to 1000');
    const existing = conn.subs.get(pattern);
    if (!existing && conn.subs.size >= this.config.maxSubscriptionsPerConnection) {
      throw new HubRefusal('too_many_subscriptions', `at most ${this.config.maxSubscriptionsPerConnection} subscriptions per connection (MAX_SUBSCRIPTIONS)`);
    }
    if (existing) this.dropSubscription(existing);
    const wantsReplay = (options.snapshot ?? 0) > 0 || options.since !== undefined || options.sinceTs !== undefined;
    const sub: Subscription = {
      conn,
      pattern,
      format: options.format ?? 'json',
      maxHz,
      replayBuffer: wantsReplay ? [] : null,
      floor: null,
      nextSendAt: maxHz > 0 ? new Map() : null,
      heldBack: maxHz > 0 ? new Map() : null,
    };
    conn.subs.set(pattern, sub);
    this.index.add(pattern, sub);
    const acceptedAt = this.broker.now(); // the clock message ts come from (Redis time with Redis)
    await this.broker.subscribe(pattern);
    options.accepted?.(acceptedAt);
    if (!wantsReplay) return;
    try {
      await this.replay(sub, options);
    } catch (err) {
      // Replying twice is not allowed; closing makes the client reconnect and resume.
      this.logError(err, conn);
      conn.close(1011, 'replay failed');
    }
  }

  /** A page of one topic's history, at most MAX_HISTORY_BYTES of messages; `more` says the page stopped short. */
  async history(topic: string, query: HistoryQuery): Promise<HistoryPage & { more: boolean }> {
    const problem = topicError(topic);
    if (problem) throw new HubRefusal('bad_topic', problem);
    return boundPage(await this.broker.history(topic, query), this.config.maxHistoryBytes);
  }

  /** Log an unexpected error with the connection it happened on. */
  logError(err: unknown, conn?: Connection): void {
    this.log.error({ err, conn: conn?.id, mode: conn?.mode }, 'unexpected error');
  }

  unsubscribe(conn: Connection, pattern: string): boolean {
    const sub = conn.subs.get(pattern);
    if (!sub) return false;
    conn.subs.delete(pattern);
    this.dropSubscription(sub);
    return true;
  }

  private dropSubscription(sub: Subscription): void {
    this.index.remove(sub.pattern, sub);
    this.throttled.delete(sub);
    this.broker.unsubscribe(sub.pattern).catch((err) => this.log.warn({ err, pattern: sub.pattern }, 'broker unsubscribe failed'));
  }

  private async replay(sub: Subscription, options: SubscribeOptions): Promise<void> {
    const { conn } = sub;
    const sent = new Map<string, number>();
    const since = options.since;
    const topics = new Set(isPattern(sub.pattern) ? await this.broker.topics(sub.pattern) : [sub.pattern]);
    if (since !== undefined && typeof since === 'object') {
      for (const t of Object.keys(since)) if (matches(sub.pattern, t)) topics.add(t);
    }
    const epochOk = options.epoch === undefined || options.epoch === this.epoch;
    for (const topic of topics) {
      if (conn.closed) return;
      const after = typeof since === 'number' ? since : since?.[topic];
      let page;
      if (after !== undefined) {
        page = epochOk ? await this.broker.history(topic, { since: after }) : null;
        // The epoch can change while running (Redis lost its data): the page says which it is.
        if (page && options.epoch !== undefined && page.epoch !== options.epoch) page = null;
        if (!page || page.truncated || after > page.lastSeq) {
          this.sendReset(conn, topic, page ? 'trimmed' : 'epoch');
          page = await this.broker.history(topic, { limit: options.snapshot });
        } else {
          sent.set(topic, after); // the client has these already, whichever way they come
        }
      } else if (options.sinceTs !== undefined && epochOk) {
        page = await this.historySinceTs(conn, topic, options.sinceTs);
      } else {
        page = await this.broker.history(topic, { limit: options.snapshot ?? 0 });
      }
      for (const env of page.messages) {
        conn.sendText(sub.format === 'chat-line' ? renderChatLine(env) : env.json);
        sent.set(topic, env.seq);
      }
      // Pace big replays by the socket, so they never blow the outbox bound.
      if (conn.outbox.depth > this.config.outboxLimitBytes / 2) await conn.drained();
    }
    const buffered = sub.replayBuffer ?? [];
    sub.replayBuffer = null;
    sub.floor = sent.size > 0 ? sent : null;
    for (const env of buffered) {
      if (env.seq <= (sent.get(env.topic) ?? 0)) continue; // already part of the replay
      if (sub.format === 'chat-line') {
        if (env.origin !== conn.id) conn.pushMessage(frameText(renderChatLine(env)), env.topic, this.policyFor(env.topic));
      } else {
        conn.pushMessage(frameText(env.json), env.topic, this.policyFor(env.topic));
      }
    }
  }

  /**
   * Messages of a topic the client never saw, published at or after `sinceTs`. If the oldest
   * retained message is newer than that and is not the topic's first, some may have been
   * trimmed: say so.
   */
  private async historySinceTs(conn: Connection, topic: string, sinceTs: number) {
    const page = await this.broker.history(topic, {});
    const oldest = page.messages[0];
    if (oldest && oldest.seq > 1 && oldest.ts > sinceTs) this.sendReset(conn, topic, 'trimmed');
    return { ...page, messages: page.messages.filter((m) => m.ts >= sinceTs) };
  }

  private sendReset(conn: Connection, topic: string, reason: ResetFrame['reason']): void {
    const reset: ResetFrame = { op: 'reset', topic, epoch: this.epoch, reason };
    conn.sendJson(reset);
  }

  // ---- chat presence -------------------------------------------------------------------------

  /** Give a line-mode connection a guest nick, unique across the cluster, and join it to chat. */
  joinChat(conn: Connection): Promise<string> {
    return this.inNickOrder(conn, () => this.claimGuest(conn));
  }

  /** Rename; throws a refusal if the nick is taken (on any node) or malformed. Renames of one connection run in order. */
  renameInChat(conn: Connection, nick: string): Promise<void> {
    return this.inNickOrder(conn, () => this.rename(conn, nick));
  }

  /**
   * Run nick changes of one connection one after another: interleaved claims would leave nicks
   * held that `conn.nick` no longer names.
   */
  private inNickOrder<T>(conn: Connection, fn: () => Promise<T>): Promise<T> {
    const run = conn.nickQueue.then(() => {
      if (conn.closed) throw new HubRefusal('unavailable', 'connection closed');
      return fn();
    });
    conn.nickQueue = run.then(noop, noop);
    return run;
  }

  private async claimGuest(conn: Connection): Promise<string> {
    let nick: string;
    let attempts = 0;
    do nick = ++attempts > 50 ? `guest-${randomBytes(3).toString('hex')}` : `guest-${++this.guestCounter}`;
    while (!conn.closed && (this.chatUsers.has(nick) || !(await this.claimNick(nick, conn))));
    if (conn.closed) return nick; // claimNick gave it back (or never got it)
    conn.nick = nick;
    this.chatUsers.set(nick, conn);
    this.announce(nick, 'joined', 'join');
    return nick;
  }

  private async rename(conn: Connection, nick: string): Promise<void> {
    const bad = nickProblem(nick);
    if (bad) throw new HubRefusal('bad_request', bad);
    const old = conn.nick;
    if (old === nick) return;
    if (!(await this.claimNick(nick, conn))) throw new HubRefusal('bad_request', `nick '${nick}' is taken`);
    if (conn.closed) return this.releaseNick(conn, nick);
    if (old && this.chatUsers.get(old) === conn) this.chatUsers.delete(old);
    if (old) await this.releaseNick(conn, old);
    conn.nick = nick;
    this.chatUsers.set(nick, conn);
    if (old) this.announce(nick, `was ${old}`, 'nick');
    else this.announce(nick, 'joined', 'join');
  }

  /** Everyone in chat, on every node. */
  async chatNicks(): Promise<string[]> {
    return this.unavailableAsRefusal(() => this.broker.presence.list());
  }

  /** Claim `nick` for `conn`; a claim that lands after the connection closed is given back. */
  private async claimNick(nick: string, conn: Connection): Promise<boolean> {
    const ok = await this.unavailableAsRefusal(() => this.broker.presence.claim(nick, conn.id));
    if (ok) conn.nicks.add(nick);
    if (ok && conn.closed) {
      await this.releaseNick(conn, nick);
      return false;
    }
    return ok;
  }

  /** Give `nick` back; never rejects (a failure is logged, and presence expiry covers it). */
  private async releaseNick(conn: Connection, nick: string): Promise<void> {
    conn.nicks.delete(nick);
    await this.broker.presence.release(nick, conn.id).catch((err) => this.log.warn({ err, nick }, 'presence release failed'));
  }

  private async unavailableAsRefusal<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw new HubRefusal('unavailable', 'the message broker is unreachable; try again');
      throw err;
    }
  }

  private announce(nick: string, text: string, kind: ChatData['kind']): void {
    this.broker.publish('chat', JSON.stringify({ nick, text, kind })).catch((err) => this.log.warn({ err }, 'presence publish failed'));
  }

  // ---- stats ---------------------------------------------------------------------------------

  private countTopic(topic: string): TopicCounter {
    let c = this.topicCounts.get(topic);
    if (!c) {
      c = { messages: 0, deliveries: 0, lastSecond: 0, rate: 0 };
      this.topicCounts.set(topic, c);
    }
    c.messages++;
    return c;
  }

  /** Raw per-topic counters, for metrics. */
  topicCounters(): ReadonlyMap<string, Readonly<TopicCounter>> {
    return this.topicCounts;
  }

  private rollRates(): void {
    for (const c of this.topicCounts.values()) {
      c.rate = c.messages - c.lastSecond;
      c.lastSecond = c.messages;
    }
  }

  /** Hub-wide totals, open connections included. */
  stats(): HubCounters & { connections: number; subscriptions: number; epoch: string } {
    let { conflated, bytesOut } = this.counters;
    for (const conn of this.connections) {
      conflated += conn.outbox.stats.conflated;
      bytesOut += conn.outbox.stats.bytesOut;
    }
    return { ...this.counters, conflated, bytesOut, connections: this.connections.size, subscriptions: this.index.size, epoch: this.epoch };
  }

  /** Publish the hub's own telemetry (clients may not publish to `$sys`). */
  publishSys(topic: string, data: unknown): Promise<Envelope> {
    return this.broker.publish(topic, JSON.stringify(data));
  }

  /** Topics seen by this hub, with local subscriber counts and rates. */
  topics(): TopicInfo[] {
    const out: TopicInfo[] = [];
    for (const [topic, c] of this.topicCounts) {
      out.push({ topic, subscribers: this.index.match(topic).length, messages: c.messages, rate: c.rate });
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic));
  }

  // ---- liveness and shutdown -----------------------------------------------------------------

  /**
   * One timer for all sockets. Each tick visits one slice of the connections, so every connection
   * is pinged once per HEARTBEAT_MS and terminated if it has not answered since its last visit.
   * Slicing spreads the pings and the burst of pongs they trigger, which would otherwise stall
   * delivery to everyone for a moment every HEARTBEAT_MS (an estimated ~20 ms at 1000 sockets here).
   */
  private heartbeat(): void {
    const slot = this.heartbeatTick++ % HEARTBEAT_SLICES;
    for (const conn of this.connections) {
      if (conn.heartbeatSlot !== slot) continue;
      if (!conn.alive) {
        this.log.info({ conn: conn.id }, 'heartbeat missed, terminating');
        conn.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.terminate();
      }
    }
  }

  /** Close every connection with 1001 and stop timers. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.expiries.clear();
    if (this.throttleTimer) clearInterval(this.throttleTimer);
    this.flusher.flushNow();
    for (const conn of this.connections) conn.close(CloseCode.goingAway, 'hub shutting down');
  }
}

/** Presence checks of HTTP chat posts use this holder id (no connection has it). */
const HTTP_SPEAKER = 'http';

const noop = () => {};

/** `nick: text` for line mode. Controls are escaped even though the chat rule refuses them: history may predate it. */
function renderChatLine(env: Envelope): string {
  const data = (JSON.parse(env.json) as { data: ChatData }).data;
  const nick = escapeControls(String(data.nick));
  const text = escapeControls(String(data.text));
  if (data.kind === 'join' || data.kind === 'leave') return `* ${nick} ${text}`;
  if (data.kind === 'nick') return `* ${nick} (${text})`;
  return `${nick}: ${text}`;
}

/**
 * Cut a page, oldest first, before the message that would take it over `maxBytes` (the first
 * message always goes, so paging on with `since` always advances).
 */
function boundPage(page: HistoryPage, maxBytes: number): HistoryPage & { more: boolean } {
  let bytes = 0;
  for (let i = 0; i < page.messages.length; i++) {
    bytes += Buffer.byteLength(page.messages[i].json);
    if (bytes > maxBytes && i > 0) return { ...page, messages: page.messages.slice(0, i), more: true };
  }
  return { ...page, more: false };
}
