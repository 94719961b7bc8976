/**
 * `tickhub/client`: the reconnecting app-mode client for browsers and Node, with the wire types
 * a program needs to use it. See the README's "Client library" section.
 */
export { HubClient } from './hub-client.ts';
export type { ClientStatus, HubClientOptions, LiveTransport, SubscribeOptions, TransportKind, WebSocketFactory, WebSocketLike } from './hub-client.ts';
export { followBook } from './book-follower.ts';
export type { BookFollower, FollowBookOptions } from './book-follower.ts';
export { OrderBook, bookChecksum } from '../protocol/book.ts';
export type { BookOutcome } from '../protocol/book.ts';
export { APP_SUBPROTOCOL } from '../protocol/wire.ts';
export { HubError } from '../protocol/errors.ts';
export type { ChatData, ErrorCode, ExpiringFrame, HubMessage, ResetFrame, WelcomeFrame } from '../protocol/wire.ts';
export { matches } from '../protocol/topics.ts';
