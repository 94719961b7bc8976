/**
 * Chat presence for a cluster: nicks in a Redis hash, each held by `<node> <connection>`. An entry
 * whose node stopped heartbeating is void (the heartbeat script reaps it and reports it through
 * `expired`). Runs on the broker's Redis client (client.ts), never on the broker's state.
 */
import type { Presence } from '../presence.ts';
import { CLAIM, LIST_NICKS, RELEASE, type Script } from './scripts.ts';

/** What presence needs from Redis: run a script, name a key, know its node (RedisClient gives it). */
export interface ScriptRunner {
  readonly nodeId: string;
  key(suffix: string): string;
  script(script: Script, keys: string[], args: string[]): Promise<unknown>;
}

/** Cluster-wide nicks in a Redis hash; entries of a node whose heartbeat key expired are void. */
export class RedisPresence implements Presence {
  /** What this node's connections hold, to re-register after Redis lost it. */
  private readonly mine = new Map<string, string>();
  private onExpiredHandler: (nicks: string[]) => void = () => {};

  constructor(private readonly redis: ScriptRunner) {}

  private holder(connId: string): string {
    return `${this.redis.nodeId} ${connId}`;
  }

  async claim(nick: string, connId: string): Promise<boolean> {
    const ok = (await this.redis.script(CLAIM, [this.redis.key('nicks')], [nick, this.holder(connId), this.redis.key('node:')])) === 1;
    if (ok) this.mine.set(nick, connId);
    return ok;
  }

  async release(nick: string, connId: string): Promise<void> {
    if (this.mine.get(nick) === connId) this.mine.delete(nick);
    await this.redis.script(RELEASE, [this.redis.key('nicks')], [nick, this.holder(connId)]);
  }

  async list(): Promise<string[]> {
    const nicks = (await this.redis.script(LIST_NICKS, [this.redis.key('nicks')], [this.redis.key('node:')])) as string[];
    return nicks.map(String).sort();
  }

  onExpired(handler: (nicks: string[]) => void): void {
    this.onExpiredHandler = handler;
  }

  expired(nicks: string[]): void {
    this.onExpiredHandler(nicks);
  }

  /** Re-register this node's nicks (after Redis lost them or they expired during an outage). */
  async reassert(): Promise<void> {
    for (const [nick, connId] of this.mine) {
      const ok = (await this.redis.script(CLAIM, [this.redis.key('nicks')], [nick, this.holder(connId), this.redis.key('node:')])) === 1;
      if (!ok) this.mine.delete(nick); // someone else took it meanwhile; theirs now
    }
  }
}
