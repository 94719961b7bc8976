/**
 * Callbacks that must never take the process down: timers, socket and server events, scrapes.
 * An exception is logged with what was running and swallowed; the next tick runs as usual.
 */
import type { Logger } from 'pino';

/**
 * Wrap `fn` so a throw (EMFILE from a /proc read, a bug in one handler) is logged, not fatal.
 *
 * @example
 * setInterval(guarded(log, 'telemetry tick', () => telemetry.tick()), 1000);
 */
export function guarded<A extends unknown[]>(log: Pick<Logger, 'error'>, what: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      log.error({ err, in: what }, 'callback failed; carrying on');
    }
  };
}
