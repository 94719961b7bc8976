/**
 * The one list of error codes, each with the HTTP status it maps to, and the one error type.
 * The hub throws a HubError to refuse a request (the edge turns it into an error frame or an HTTP
 * error); the client rejects with one for an error reply. docs/protocol.md lists the codes.
 */

export const ERROR_CODES = {
  bad_json: 400,
  bad_request: 400,
  unknown_op: 400,
  bad_topic: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  not_subscribed: 400,
  binary_unsupported: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_subscriptions: 400,
  too_many_topics: 429,
  too_many_connections: 429,
  rate_limited: 429,
  token_expired: 401,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A refusal with a code from ERROR_CODES and a message that names the problem (and the setting). */
export class HubError extends Error {
  override name = 'HubError';

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
