/**
 * Draining a node for a rolling restart: its open connections are closed with 1012 ("node
 * draining; reconnect") spread evenly over a window, so its clients reconnect to the other nodes
 * a few at a time instead of all in the same instant. One timer for the whole drain.
 */
import type { Logger } from 'pino';
import { guarded } from '../guard.ts';
import { CloseCode, type Connection } from './connection.ts';

/** The close reason a draining node gives its clients. */
export const DRAIN_REASON = 'node draining; reconnect';

/** How often the drain timer closes the connections that are due. */
const TICK_MS = 10;

/**
 * Close every connection of `connections` (as it is now) with 1012, connection i of n at about
 * `i * windowMs / n` ms, so the first goes at once and the last at `windowMs * (n - 1) / n`.
 * Resolves when `connections` is empty (every close handshake done) or when the window ends,
 * whichever comes first; connections still open then are the caller's to close. `windowMs` 0
 * closes them all at once and resolves.
 *
 * @example
 * hub.startDraining();
 * await drainConnections(hub.connections, config.drainMs, log);
 * hub.close(); // 1001 for whatever is left
 */
export function drainConnections(connections: ReadonlySet<Connection>, windowMs: number, log: Logger): Promise<void> {
  const queue = [...connections];
  const started = Date.now();
  let closed = 0;
  const closeDue = () => {
    const due = windowMs === 0 ? queue.length : Math.min(queue.length, Math.floor(((Date.now() - started) * queue.length) / windowMs) + 1);
    for (; closed < due; closed++) queue[closed].close(CloseCode.serviceRestart, DRAIN_REASON);
  };
  closeDue();
  if (windowMs === 0 || connections.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setInterval(
      guarded(log, 'drain', () => {
        closeDue();
        if (connections.size === 0 || Date.now() - started >= windowMs) {
          clearInterval(timer);
          resolve();
        }
      }),
      TICK_MS,
    );
  });
}
