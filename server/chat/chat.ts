/**
 * Chat as a service over publish/subscribe: topic `chat` carries `{nick, text, kind?}`, and this
 * service owns who may say what under which nick. A nick held by someone is theirs, cluster-wide
 * (the broker's presence): line-mode clients get a guest nick and `/nick`; an app-mode client
 * speaking under a nick claims it for its connection; an HTTP post may use a nick only while
 * nobody holds it. Only the hub emits join/leave/nick lines. Nick changes of one connection run
 * in order, and every nick a connection claimed is released with it.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { checkChatData, escapeControls, nickProblem } from '../../protocol/chat.ts';
import { HubError } from '../../protocol/errors.ts';
import type { ChatData } from '../../protocol/wire.ts';
import { BrokerUnavailableError, type Envelope, type Presence } from '../broker/broker.ts';
import type { Connection } from '../core/connection.ts';
import type { Hub } from '../core/hub.ts';

/** Presence checks of HTTP chat posts use this holder id (no connection has it). */
const HTTP_SPEAKER = 'http';

const noop = () => {};

/** What chat keeps for a connection that chats; taps and silent clients cost nothing. */
interface ChatState {
  /** Every nick it holds in presence (current and any being claimed or given back), released with it. */
  readonly nicks: Set<string>;
  /** Tail of its nick changes, which run one at a time. */
  queue: Promise<void>;
}

export class ChatService {
  /** This node's chat members (nick -> connection); the cluster-wide registry is presence. */
  private readonly members = new Map<string, Connection>();
  private readonly states = new WeakMap<Connection, ChatState>();
  private readonly presence: Presence;
  private guestCounter = 0;

  /**
   * Takes over publishing to `chat` on `hub` and cleans up after its connections.
   * @example
   * const chat = new ChatService(hub, log);
   * await chat.join(conn); // 'guest-1'
   */
  constructor(
    private readonly hub: Hub,
    private readonly log: Logger,
  ) {
    this.presence = hub.broker.presence;
    hub.routePublish('chat', (data, origin) => this.publish(data, origin));
    hub.onDetach((conn) => this.leave(conn));
    this.presence.onExpired((nicks) => {
      for (const nick of nicks) this.announce(nick, 'left', 'leave');
    });
  }

  /** Give a line-mode connection a guest nick, unique across the cluster, and join it to chat. */
  join(conn: Connection): Promise<string> {
    return this.inNickOrder(conn, () => this.claimGuest(conn));
  }

  /** Rename; refused if the nick is taken (on any node) or malformed. */
  rename(conn: Connection, nick: string): Promise<void> {
    return this.inNickOrder(conn, () => this.renameNow(conn, nick));
  }

  /** Everyone in chat, on every node. */
  nicks(): Promise<string[]> {
    return this.unavailableAsRefusal(() => this.presence.list());
  }

  /** Publish chat `{nick?, text}` from `origin` (none: an HTTP post) under the chat rule. */
  async publish(data: unknown, origin?: Connection): Promise<Envelope> {
    const checked = checkChatData(data);
    if (!checked.ok) throw new HubError('bad_request', checked.problem);
    const { text } = checked.chat;
    if (origin?.mode === 'line') {
      if (!origin.nick) throw new HubError('unavailable', 'not in chat yet; try again');
      return this.hub.publishData('chat', { nick: origin.nick, text } satisfies ChatData, origin);
    }
    if (origin) {
      const wanted = checked.chat.nick;
      const nick = await this.inNickOrder(origin, async () => {
        if (wanted === undefined) return origin.nick ?? (await this.claimGuest(origin));
        if (wanted !== origin.nick) await this.renameNow(origin, wanted);
        return wanted;
      });
      // It may have closed while its nick was being claimed: then the nick is given back, not spoken under.
      if (origin.closed) throw new HubError('unavailable', 'connection closed');
      return this.hub.publishData('chat', { nick, text } satisfies ChatData, origin);
    }
    const nick = checked.chat.nick ?? 'anonymous';
    if (!(await this.unavailableAsRefusal(() => this.presence.claim(nick, HTTP_SPEAKER)))) {
      throw new HubError('forbidden', `nick '${nick}' is held by a chat user; pick another`);
    }
    // A check, not a hold: two HTTP posts under one free nick both pass.
    await this.presence.release(nick, HTTP_SPEAKER).catch((err) => this.log.warn({ err, nick }, 'presence release failed'));
    return this.hub.publishData('chat', { nick, text } satisfies ChatData);
  }

  /** A connection closed: every nick it holds goes, not only the current one; claims still in flight release themselves. */
  private leave(conn: Connection): void {
    for (const nick of this.states.get(conn)?.nicks ?? []) {
      const current = nick === conn.nick && this.members.get(nick) === conn;
      if (this.members.get(nick) === conn) this.members.delete(nick);
      this.releaseNick(conn, nick).then(() => current && this.announce(nick, 'left', 'leave'));
    }
  }

  /** Run nick changes of one connection one after another: interleaved claims would leave nicks held that `conn.nick` no longer names. */
  private inNickOrder<T>(conn: Connection, fn: () => Promise<T>): Promise<T> {
    const state = this.stateOf(conn);
    const run = state.queue.then(() => {
      if (conn.closed) throw new HubError('unavailable', 'connection closed');
      return fn();
    });
    state.queue = run.then(noop, noop);
    return run;
  }

  private stateOf(conn: Connection): ChatState {
    let state = this.states.get(conn);
    if (!state) {
      state = { nicks: new Set(), queue: Promise.resolve() };
      this.states.set(conn, state);
    }
    return state;
  }

  private async claimGuest(conn: Connection): Promise<string> {
    let nick: string;
    let attempts = 0;
    do nick = ++attempts > 50 ? `guest-${randomBytes(3).toString('hex')}` : `guest-${++this.guestCounter}`;
    while (!conn.closed && (this.members.has(nick) || !(await this.claimNick(nick, conn))));
    if (conn.closed) return nick; // claimNick gave it back (or never got it)
    conn.nick = nick;
    this.members.set(nick, conn);
    this.announce(nick, 'joined', 'join');
    return nick;
  }

  private async renameNow(conn: Connection, nick: string): Promise<void> {
    const bad = nickProblem(nick);
    if (bad) throw new HubError('bad_request', bad);
    const old = conn.nick;
    if (old === nick) return;
    if (!(await this.claimNick(nick, conn))) throw new HubError('bad_request', `nick '${nick}' is taken`);
    if (conn.closed) return this.releaseNick(conn, nick);
    if (old && this.members.get(old) === conn) this.members.delete(old);
    if (old) await this.releaseNick(conn, old);
    conn.nick = nick;
    this.members.set(nick, conn);
    if (old) this.announce(nick, `was ${old}`, 'nick');
    else this.announce(nick, 'joined', 'join');
  }

  /** Claim `nick` for `conn`; a claim that lands after the connection closed is given back. */
  private async claimNick(nick: string, conn: Connection): Promise<boolean> {
    const ok = await this.unavailableAsRefusal(() => this.presence.claim(nick, conn.id));
    if (ok) this.stateOf(conn).nicks.add(nick);
    if (ok && conn.closed) {
      await this.releaseNick(conn, nick);
      return false;
    }
    return ok;
  }

  /** Give `nick` back; never rejects (a failure is logged, and presence expiry covers it). */
  private async releaseNick(conn: Connection, nick: string): Promise<void> {
    this.states.get(conn)?.nicks.delete(nick);
    await this.presence.release(nick, conn.id).catch((err) => this.log.warn({ err, nick }, 'presence release failed'));
  }

  private async unavailableAsRefusal<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw new HubError('unavailable', 'the message broker is unreachable; try again');
      throw err;
    }
  }

  private announce(nick: string, text: string, kind: ChatData['kind']): void {
    this.hub.publishOwn('chat', { nick, text, kind }).catch((err) => this.log.warn({ err }, 'presence publish failed'));
  }
}

/** `nick: text` for line mode. Controls are escaped even though the chat rule refuses them: history may predate it. */
export function renderChatLine(env: Envelope): string {
  const data = (JSON.parse(env.json) as { data: ChatData }).data;
  const nick = escapeControls(String(data.nick));
  const text = escapeControls(String(data.text));
  if (data.kind === 'join' || data.kind === 'leave') return `* ${nick} ${text}`;
  if (data.kind === 'nick') return `* ${nick} (${text})`;
  return `${nick}: ${text}`;
}
