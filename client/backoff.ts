/**
 * How long a reconnecting client waits before its next attempt: full jitter between
 * `minMs / 2` and a ceiling that doubles per attempt up to `maxMs`, and that never exceeds how
 * long the hub has been out of reach (at least `minMs`). Without that bound an outage of t left
 * some clients asleep for up to ~4t after the hub came back (a client that drew short delays
 * reached a 4 s ceiling in its first second); with it a client is back within about t, while
 * its attempts still thin out as 1/t, as with plain doubling.
 */
export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first after a loss), `outageMs` after
 * the hub was last reachable. `random` is Math.random's range, [0, 1).
 */
export function reconnectDelay({ minMs, maxMs }: BackoffPolicy, attempt: number, outageMs: number, random: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt, Math.max(minMs, outageMs));
  return minMs / 2 + random * (ceiling - minMs / 2);
}
