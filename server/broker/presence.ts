/**
 * The presence port: who holds which chat nick, shared by every node that shares a broker.
 * `MemoryPresence` (memory-presence.ts) serves one process, `RedisPresence` (redis/presence.ts)
 * a cluster; test/server/broker/presence-contract.test.ts runs the same tests against both.
 *
 * Guarantees every implementation gives:
 * - A nick is held by at most one connection at a time; `claim` by its holder again succeeds.
 * - Only the holder gives a nick back (`release` by anyone else does nothing).
 * - `list` is every nick held anywhere, sorted (JavaScript's default string order).
 * - Entries of a node that stops heartbeating expire, and are reported through `onExpired`
 *   once, by one node (a single process has no such entries, so it never reports).
 */
export interface Presence {
  /** Take `nick` for connection `connId` of this node; false if another connection holds it. */
  claim(nick: string, connId: string): Promise<boolean>;
  /** Give `nick` back if `connId` of this node still holds it. */
  release(nick: string, connId: string): Promise<void>;
  /** Every nick held anywhere, sorted. */
  list(): Promise<string[]>;
  /** Nicks whose node died; the hub announces them as left. */
  onExpired(handler: (nicks: string[]) => void): void;
}
