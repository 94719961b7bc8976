/**
 * The protocol's fixed limits, each defined once and imported wherever it is checked (the hub's
 * parser, routes and core, and the client). Limits an operator may change are settings instead
 * (server/config.ts, docs/security.md).
 */

/** Topics: at most this many characters and dot-separated tokens. */
export const MAX_TOPIC_LENGTH = 128;
export const MAX_TOPIC_TOKENS = 8;

/** `maxHz` is a number from 0 (unthrottled) to this. */
export const MAX_HZ = 1000;

/** Most messages one history request may ask for (`limit`). */
export const MAX_HISTORY_LIMIT = 10_000;

/** Longest string request `id`. */
export const MAX_REQUEST_ID_LENGTH = 64;

/** Most topics one `since` object may list: each can cost a history read and a `reset` frame. */
export const MAX_SINCE_TOPICS = 1024;

/** Deepest nesting of published `data` (JSON.stringify recurses; deeper input would throw). */
export const MAX_JSON_DEPTH = 64;

/** Chat: longest text in characters, and nicks of 1 to MAX_NICK_LENGTH of [A-Za-z0-9_-]. */
export const MAX_CHAT_TEXT = 2000;
export const MAX_NICK_LENGTH = 24;

/** Null if `maxHz` is acceptable, else the message saying why not. */
export function maxHzProblem(maxHz: unknown): string | null {
  return typeof maxHz === 'number' && maxHz >= 0 && maxHz <= MAX_HZ ? null : `'maxHz' must be a number from 0 to ${MAX_HZ}`;
}
