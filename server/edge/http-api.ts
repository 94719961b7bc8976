/** The HTTP API: publish, topics, history, stats, health, metrics, and admin connection control. */
import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { bodyLimit } from 'hono/body-limit';
import type { Registry } from 'prom-client';
import { checkPublish, hasRole, type Authenticator, type Principal } from '../core/principal.ts';
import { HubError } from '../../protocol/errors.ts';
import type { Hub } from '../core/hub.ts';
import { TOPIC_PAGE_DEFAULT, TOPIC_PAGE_MAX } from '../core/topic-stats.ts';
import { CloseCode } from '../core/connection.ts';
import { MAX_HISTORY_LIMIT } from '../../protocol/limits.ts';
import { apiError, optionalInt, tokenOf, type Env } from './http-util.ts';
import { HttpRateLimiter } from './http-rate-limit.ts';
import { crossSiteProblem, ownOrigins } from './origin.ts';
import { credentialSetting, type Refuse } from './refusals.ts';
import { DEPTH_PROBLEM, tooDeep } from '../sessions/parse.ts';
import { batchProblem, batchReplyFields, publishBatch } from '../sessions/batch.ts';

type AuthedEnv = Env & { Variables: { principal: Principal } };

/** The HTTP routes; `refuse` sends and logs admission refusals. */
export function createHttpApi(hub: Hub, auth: Authenticator, metrics: Registry, refuse: Refuse): Hono<AuthedEnv> {
  const { config } = hub;
  const api = new Hono<AuthedEnv>();

  const refusal = (c: Parameters<typeof apiError>[0], err: unknown) => {
    if (err instanceof HubError) return apiError(c, err.code, err.message);
    throw err;
  };

  // Open to load balancers whatever ANONYMOUS_ROLE says.
  // `degraded` (503) while the broker's backend (Redis) is unreachable, and `draining` (503) once
  // the node drains for a restart, so a balancer routes around the node.
  api.get('/healthz', (c) => {
    const status = hub.draining ? 'draining' : hub.brokerStatus;
    const body = { status, epoch: hub.epoch, connections: hub.connections.size, node: hub.nodeId, uptimeSeconds: hub.uptimeSeconds() };
    return c.json(body, status === 'ok' ? 200 : 503);
  });

  // Every other route knows its caller; bad credentials are refused even where anonymous would do.
  const identify = createMiddleware<AuthedEnv>(async (c, next) => {
    const token = tokenOf(c);
    const result = await auth.authenticate(token);
    if (!result.ok) return refuse(c, 'unauthorized', credentialSetting(token), result.reason);
    c.set('principal', result.principal);
    await next();
  });
  api.use('/api/*', identify);
  api.use('/metrics', identify);
  api.get('/metrics', async (c) => c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType }));
  // Paged, so the listing costs the same however many topics a publisher created.
  api.get('/api/topics', async (c) => {
    const limitParam = optionalInt(c.req.query('limit'));
    const limit = limitParam === undefined ? TOPIC_PAGE_DEFAULT : limitParam;
    const prefix = c.req.query('prefix') ?? '';
    const after = c.req.query('after');
    if (limit === null || limit < 1 || limit > TOPIC_PAGE_MAX) return apiError(c, 'bad_request', `'limit' must be an integer from 1 to ${TOPIC_PAGE_MAX}`);
    if (prefix.length > 128 || (after?.length ?? 0) > 128) return apiError(c, 'bad_request', "'prefix' and 'after' are at most 128 characters (a topic's length)");
    return c.json(await hub.topics({ prefix, after, limit }));
  });
  api.get('/api/stats', (c) => c.json(hub.stats()));

  api.get('/api/history/:topic{.+}', async (c) => {
    const since = optionalInt(c.req.query('since'));
    const limitParam = optionalInt(c.req.query('limit'));
    const limit = limitParam === undefined ? 100 : limitParam;
    if (since === null || limit === null || limit > MAX_HISTORY_LIMIT) return apiError(c, 'bad_request', `'since' and 'limit' must be non-negative integers (limit <= ${MAX_HISTORY_LIMIT})`);
    const topic = c.req.param('topic');
    try {
      const page = await hub.history(topic, { since, limit });
      return c.json({ topic, epoch: page.epoch, lastSeq: page.lastSeq, truncated: page.truncated, more: page.more, messages: page.messages.map((e) => JSON.parse(e.json)) });
    } catch (err) {
      return refusal(c, err);
    }
  });

  // A web page must not publish with its visitor's cookie (CSRF): the upgrade's Origin rule, and
  // only JSON bodies, which a cross-site form or a CORS-"simple" fetch cannot send unasked.
  const publishGuard = createMiddleware<AuthedEnv>(async (c, next) => {
    const problem = crossSiteProblem(
      { origin: c.req.header('origin'), secFetchSite: c.req.header('sec-fetch-site') },
      ownOrigins(c.req.header('host'), c.get('client'), config.publicUrl),
      config.allowedOrigins,
    );
    if (problem) return refuse(c, 'forbidden', 'ALLOWED_ORIGINS', problem);
    const type = c.req.header('content-type');
    if (type !== undefined && !isJsonType(type)) {
      return apiError(c, 'unsupported_media_type', `content-type ${type} is not accepted: send content-type: application/json`);
    }
    await next();
  });
  api.use('/api/publish/*', publishGuard); // covers the batch route `/api/publish` too

  // Publishing costs the hub a broker write and a fan-out: the WebSocket rates apply here too,
  // counted in messages (a batch of n spends n).
  const publishRate = new HttpRateLimiter(config);
  const spendRate = (c: Context<AuthedEnv>, cost: number): Response | null => {
    const verdict = publishRate.take(c.get('client').address, c.get('principal'), cost);
    if (verdict.ok) return null;
    c.header('Retry-After', String(verdict.retryAfterSeconds));
    const message = verdict.overBurst
      ? `a batch of ${cost} messages is more than this caller's burst (${verdict.setting === 'RATE_LIMIT' ? 'RATE_BURST' : verdict.setting}); send smaller batches`
      : `more than ${verdict.limit} publishes/s from this address and credential (${verdict.setting}); retry after ${verdict.retryAfterSeconds} s`;
    return refuse(c, 'rate_limited', verdict.setting, message);
  };
  const publishBodyLimit = bodyLimit({ maxSize: config.maxPayload, onError: (c) => apiError(c, 'payload_too_large', `body larger than MAX_PAYLOAD (${config.maxPayload} bytes)`) });

  // Batch: {"messages":[{topic, data}, ...]} -> 200 {"results":[{seq, ts} | {error}], "failed": n}, in order.
  api.post('/api/publish', publishBodyLimit, async (c) => {
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (err) {
      return apiError(c, 'bad_json', `body is not JSON: ${(err as Error).message}`);
    }
    const messages = typeof body === 'object' && body !== null ? (body as { messages?: unknown }).messages : undefined;
    const problem = batchProblem(messages, config.maxBatchMessages);
    if (problem) return apiError(c, problem.code, problem.message);
    const batch = messages as unknown[];
    const limited = spendRate(c, batch.length);
    if (limited) return limited;
    const reply = await publishBatch(hub, c.get('principal'), batch, (err) => hub.logError(err));
    return c.body(`{${batchReplyFields(reply)}}`, 200, { 'Content-Type': 'application/json' });
  });

  api.post(
    '/api/publish/:topic{.+}',
    async (c, next) => spendRate(c, 1) ?? next(),
    publishBodyLimit,
    async (c) => {
      const principal = c.get('principal');
      let topic: string;
      try {
        topic = checkPublish(c.req.param('topic'), principal);
      } catch (err) {
        if (err instanceof HubError && err.code === 'forbidden' && principal.subject === 'anonymous') {
          return apiError(c, 'unauthorized', `${err.message}; send Authorization: Bearer <key>`);
        }
        return refusal(c, err);
      }
      let data: unknown;
      try {
        data = JSON.parse(await c.req.text());
      } catch (err) {
        return apiError(c, 'bad_json', `body is not JSON: ${(err as Error).message}`);
      }
      if (tooDeep(data)) return apiError(c, 'bad_request', DEPTH_PROBLEM);
      try {
        const env = await hub.publish(topic, data);
        return c.json({ topic, seq: env.seq, ts: env.ts });
      } catch (err) {
        return refusal(c, err);
      }
    },
  );

  // ---- admin ----
  const notAdmin = (c: Context<AuthedEnv>) =>
    hasRole(c.get('principal'), 'admin') ? null : apiError(c, 'forbidden', 'admin role required');
  api.get('/api/connections', (c) => {
    const refused = notAdmin(c);
    if (refused) return refused;
    const now = Date.now();
    const connections = [...hub.connections].map((conn) => ({
      id: conn.id,
      mode: conn.mode,
      role: conn.principal.role,
      subject: conn.principal.subject,
      remote: conn.remote,
      nick: conn.nick,
      subscriptions: [...conn.subs.keys()],
      outboxBytes: conn.outbox.depth,
      framesIn: conn.framesIn,
      framesOut: conn.outbox.stats.framesOut,
      bytesOut: conn.outbox.stats.bytesOut,
      /** COMPRESSION=shared and the client negotiated permessage-deflate: large messages go compressed. */
      compressed: conn.deflate !== null,
      dropped: conn.dropped,
      connectedSeconds: Math.round((now - conn.openedAt) / 1000),
    }));
    return c.json({ connections });
  });
  api.delete('/api/connections/:id', (c) => {
    const refused = notAdmin(c);
    if (refused) return refused;
    const conn = [...hub.connections].find((x) => x.id === c.req.param('id'));
    if (!conn) return apiError(c, 'not_found', `no connection '${c.req.param('id')}'`);
    conn.close(CloseCode.policy, 'disconnected by an admin');
    return c.json({ closed: conn.id });
  });

  return api;
}

/** `application/json` or any `+json` type, parameters (charset) ignored. */
function isJsonType(contentType: string): boolean {
  const media = contentType.split(';', 1)[0].trim().toLowerCase();
  return media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media);
}
