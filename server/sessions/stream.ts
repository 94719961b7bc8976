/**
 * What taps and SSE streams share: their welcome, sent once every subscription of the stream is
 * live, and how a stream whose subscriptions cannot be put in place ends (an error, then close
 * 1011, never a welcome: a welcome promises every message published after it).
 */
import type { Connection } from '../core/connection.ts';
import type { Hub } from '../core/hub.ts';
import { BrokerUnavailableError } from '../broker/broker.ts';
import { HubError } from '../../protocol/errors.ts';
import type { ErrorReply, WelcomeFrame } from '../../protocol/wire.ts';

/** The welcome of a stream whose subscriptions are live; `ts` as the `accepted` callback gives it. */
export function streamWelcome(hub: Hub, conn: Connection, ts: number): WelcomeFrame {
  return { op: 'welcome', v: 1, epoch: hub.epoch, node: hub.nodeId, role: conn.principal.role, maxPayload: hub.config.maxPayload, ts };
}

/**
 * The stream could not start: say why (the HubError's code; `unavailable` for an unreachable
 * broker; else `internal`, logged), then close 1011: the client reconnects.
 */
export function streamFailed(hub: Hub, conn: Connection, err: unknown): void {
  const known = err instanceof BrokerUnavailableError ? new HubError('unavailable', `the message broker is unreachable: ${err.message}`) : err;
  if (!(known instanceof HubError)) hub.logError(err, conn);
  const error: ErrorReply =
    known instanceof HubError
      ? { op: 'error', code: known.code, message: `could not start the stream (${known.message}); reconnect` }
      : { op: 'error', code: 'internal', message: 'could not start the stream; reconnect' };
  conn.sendJson(error);
  conn.close(1011, 'stream start failed');
}
