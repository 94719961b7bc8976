/** Presence inside one process (the memory broker's): nick -> connection id. */
import type { Presence } from './presence.ts';

/**
 * Nothing expires here: a connection leaving releases its nicks, and a dead process takes its
 * whole room with it.
 * @example
 * const presence = new MemoryPresence();
 * await presence.claim('alice', 'c1'); // true
 * await presence.claim('alice', 'c2'); // false: c1 holds it
 */
export class MemoryPresence implements Presence {
  private readonly holders = new Map<string, string>();

  async claim(nick: string, connId: string): Promise<boolean> {
    const holder = this.holders.get(nick);
    if (holder !== undefined && holder !== connId) return false;
    this.holders.set(nick, connId);
    return true;
  }

  async release(nick: string, connId: string): Promise<void> {
    if (this.holders.get(nick) === connId) this.holders.delete(nick);
  }

  async list(): Promise<string[]> {
    return [...this.holders.keys()].sort();
  }

  /** Never called: nothing expires in one process. */
  onExpired(_handler: (nicks: string[]) => void): void {}
}
