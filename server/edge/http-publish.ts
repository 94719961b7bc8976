/**
 * HTTP publishing, `POST /api/publish/<topic>` (one message) and `POST /api/publish` (a batch),
 * decided once for both ways a request reaches it: the lean path on the raw node request
 * (http-publish-route.ts, nearly every publish) and the Hono routes (http-api.ts, for the rest:
 * encoded or odd paths, upgrade requests). Each takes a PublishRequest and sends the
 * PublishReply; the steps and their order are the API's contract:
 * credentials (401), origin (403), content type (415), then for one message the rate (429), the
 * body limit (413), the topic, the JSON and its depth; for a batch the body limit, the JSON, the
 * batch's shape, the rate (n messages spend n), then a result per message.
 */
import type { IncomingMessage } from 'node:http';
import { ERROR_CODES, HubError, type ErrorCode } from '../../protocol/errors.ts';
import type { HubConfig } from '../config.ts';
import type { Hub } from '../core/hub.ts';
import { checkPublish, type Authenticator, type AuthResult, type Principal } from '../core/principal.ts';
import type { Envelope } from '../broker/broker.ts';
import { batchProblem, batchReplyFields, publishBatch, publishScanned } from '../sessions/batch.ts';
import { scanBatchBody, scanData } from '../sessions/publish-scan.ts';
import { itemDataTexts } from '../sessions/data-text.ts';
import { DEPTH_PROBLEM } from '../sessions/parse.ts';
import type { ClientView } from './client-address.ts';
import { cookieToken, errorBody, tokenFrom } from './http-util.ts';
import { HttpRateLimiter } from './http-rate-limit.ts';
import { crossSiteProblem, ownOrigins } from './origin.ts';
import { bodyText, headerOf, readBody } from './raw-request.ts';
import { credentialSetting, type LogRefusal } from './refusals.ts';

/** A publish request, as either path sees it; headers and body are read from `incoming`. */
export interface PublishRequest {
  incoming: IncomingMessage;
  client: ClientView;
  /** The request path without its query (for the refusal log). */
  path: string;
  /** The decoded topic of `/api/publish/<topic>`; null for the batch route. */
  topic: string | null;
  /** The `token` query parameter, decoded. */
  queryToken: string | undefined;
}

/** What to answer: always a JSON body. */
export interface PublishReply {
  status: number;
  body: string;
  /** Seconds, on a 429. */
  retryAfter?: number;
}

/** Answers now when it can (refusals, mostly), else once the body is in and published. */
export type HttpPublish = (req: PublishRequest) => PublishReply | Promise<PublishReply>;

/**
 * Unexpected errors throw or reject (the caller logs them and answers 500 `internal`, as every route does).
 *
 * @example
 * const publish = createHttpPublish(hub, auth, logRefusal);
 * const reply = await publish({ incoming, client, path, topic: 'ticks.AAPL', queryToken: undefined });
 */
export function createHttpPublish(hub: Hub, auth: Authenticator, logRefusal: LogRefusal): HttpPublish {
  const { config } = hub;
  // Publishing costs the hub a broker write and a fan-out: the WebSocket rates apply here too,
  // counted in messages (a batch of n spends n).
  const rate = new HttpRateLimiter(config);
  const tooLarge = () => error('payload_too_large', `body larger than MAX_PAYLOAD (${config.maxPayload} bytes)`);

  const refuse = (req: PublishRequest, code: ErrorCode, setting: string, message: string): PublishReply => {
    logRefusal({ client: req.client, method: 'POST', path: req.path }, code, setting, message);
    return error(code, message);
  };

  const spendRate = (req: PublishRequest, principal: Principal, cost: number): PublishReply | null => {
    const verdict = rate.take(req.client.address, principal, cost);
    if (verdict.ok) return null;
    const message = verdict.overBurst
      ? `a batch of ${cost} messages is more than this caller's burst (${verdict.setting === 'RATE_LIMIT' ? 'RATE_BURST' : verdict.setting}); send smaller batches`
      : `more than ${verdict.limit} publishes/s from this address and credential (${verdict.setting}); retry after ${verdict.retryAfterSeconds} s`;
    return { ...refuse(req, 'rate_limited', verdict.setting, message), retryAfter: verdict.retryAfterSeconds };
  };

  function publishOne(req: PublishRequest, principal: Principal, rawTopic: string): PublishReply | Promise<PublishReply> {
    const limited = spendRate(req, principal, 1);
    if (limited) return limited;
    return readBody(req.incoming, config.maxPayload).then((body) => publishBody(principal, rawTopic, body));
  }

  function publishBody(principal: Principal, rawTopic: string, body: Buffer | 'too_large'): PublishReply | Promise<PublishReply> {
    if (body === 'too_large') return tooLarge();
    let topic: string;
    try {
      topic = checkPublish(rawTopic, principal);
    } catch (err) {
      if (err instanceof HubError && err.code === 'forbidden' && principal.subject === 'anonymous') return error('unauthorized', `${err.message}; send Authorization: Bearer <key>`);
      return refusal(err);
    }
    // The body is `data` itself, read and validated without JSON.parse (publish-scan.ts).
    const text = bodyText(body);
    const json = scanData(text);
    if (json === null) return unreadable(text);
    let env: Envelope | null;
    try {
      env = hub.publishJsonNow(topic, json); // the memory broker publishes in this turn
    } catch (err) {
      return refusal(err);
    }
    // A routed topic (chat) or Redis takes the promise.
    return env ? published(topic, env) : hub.publishJson(topic, json).then((e) => published(topic, e), refusal);
  }

  async function publishMany(req: PublishRequest, principal: Principal): Promise<PublishReply> {
    const body = await readBody(req.incoming, config.maxPayload);
    if (body === 'too_large') return tooLarge();
    const text = bodyText(body);
    // The usual shape, to topics published in this turn: read without JSON.parse (publish-scan.ts).
    const scanned = scanBatchBody(text, config.maxBatchMessages);
    if (scanned !== null && scanned.topics.every((t) => hub.publishesNow(t))) {
      const limited = spendRate(req, principal, scanned.topics.length);
      if (limited) return limited;
      return { status: 200, body: `{${publishScanned(hub, principal, scanned, (err) => hub.logError(err))}}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return error('bad_json', `body is not JSON: ${(err as Error).message}`);
    }
    const messages = typeof parsed === 'object' && parsed !== null ? (parsed as { messages?: unknown }).messages : undefined;
    const problem = batchProblem(messages, config.maxBatchMessages);
    if (problem) return error(problem.code, problem.message);
    const batch = messages as unknown[];
    const limited = spendRate(req, principal, batch.length);
    if (limited) return limited;
    return { status: 200, body: `{${batchReplyFields(await publishBatch(hub, principal, batch, itemDataTexts(text), (err) => hub.logError(err)))}}` };
  }

  function admitted(req: PublishRequest, token: string | undefined, result: AuthResult): PublishReply | Promise<PublishReply> {
    if (!result.ok) return refuse(req, 'unauthorized', credentialSetting(token), result.reason);
    const problem = publishProblem(req.incoming, req.client, config);
    if (problem) return problem.setting ? refuse(req, problem.code, problem.setting, problem.message) : error(problem.code, problem.message);
    return req.topic === null ? publishMany(req, result.principal) : publishOne(req, result.principal, req.topic);
  }

  return (req) => {
    // Every API route knows its caller; bad credentials are refused even where anonymous would do.
    const token = tokenFrom(req.queryToken, headerOf(req.incoming, 'authorization'), () => cookieToken(headerOf(req.incoming, 'cookie')));
    const known = auth.authenticateNow(token); // keys and refusals now; a JWT is verified first
    return known ? admitted(req, token, known) : auth.authenticate(token).then((result) => admitted(req, token, result));
  };
}

/**
 * A web page must not publish with its visitor's cookie (CSRF): the upgrade's Origin rule, and
 * only JSON bodies, which a cross-site form or a CORS-"simple" fetch cannot send unasked.
 */
export function publishProblem(incoming: IncomingMessage, client: ClientView, config: Pick<HubConfig, 'publicUrl' | 'allowedOrigins'>): { code: ErrorCode; setting?: string; message: string } | null {
  const origin = headerOf(incoming, 'origin');
  // The hub's own origins matter only to a request that names its Origin (most publishers do not).
  const own = origin === undefined ? [] : ownOrigins(headerOf(incoming, 'host'), client, config.publicUrl);
  const crossSite = crossSiteProblem({ origin, secFetchSite: headerOf(incoming, 'sec-fetch-site') }, own, config.allowedOrigins);
  if (crossSite) return { code: 'forbidden', setting: 'ALLOWED_ORIGINS', message: crossSite };
  const type = headerOf(incoming, 'content-type');
  if (type !== undefined && !isJsonType(type)) return { code: 'unsupported_media_type', message: `content-type ${type} is not accepted: send content-type: application/json` };
  return null;
}

/** `application/json` or any `+json` type, parameters (charset) ignored. */
function isJsonType(contentType: string): boolean {
  if (contentType === 'application/json') return true; // what nearly every publisher sends
  const media = contentType.split(';', 1)[0].trim().toLowerCase();
  return media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media);
}

/** The refusal of a body the reader did not take: JSON.parse's complaint, or else its depth (the one valid JSON it refuses). */
function unreadable(text: string): PublishReply {
  try {
    JSON.parse(text);
  } catch (err) {
    return error('bad_json', `body is not JSON: ${(err as Error).message}`);
  }
  return error('bad_request', DEPTH_PROBLEM);
}

const error = (code: ErrorCode, message: string): PublishReply => ({ status: ERROR_CODES[code], body: JSON.stringify(errorBody(code, message)) });

/** The 200 of one message. A checked topic is [A-Za-z0-9_.-] only: nothing to escape. */
const published = (topic: string, env: Envelope): PublishReply => ({ status: 200, body: `{"topic":"${topic}","seq":${env.seq},"ts":${env.ts}}` });

/** A HubError's reply; anything else is not ours to explain and is rethrown. */
function refusal(err: unknown): PublishReply {
  if (err instanceof HubError) return error(err.code, err.message);
  throw err;
}
