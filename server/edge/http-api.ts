/** The HTTP API: publish, topics, history, stats, health, metrics, and admin connection control. */
import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Registry } from 'prom-client';
import { hasRole, type Authenticator, type Principal } from '../core/principal.ts';
import { HubError } from '../../protocol/errors.ts';
import { withMessages } from '../broker/broker.ts';
import type { Hub } from '../core/hub.ts';
import { TOPIC_PAGE_DEFAULT, TOPIC_PAGE_MAX } from '../core/topic-stats.ts';
import { CloseCode } from '../core/connection.ts';
import { MAX_HISTORY_LIMIT } from '../../protocol/limits.ts';
import { apiError, optionalInt, tokenOf, type Env } from './http-util.ts';
import { publishProblem, type HttpPublish } from './http-publish.ts';
import { credentialSetting, type Refuse } from './refusals.ts';

type AuthedEnv = Env & { Variables: { principal: Principal } };

/** The HTTP routes; `refuse` sends and logs admission refusals. */
export function createHttpApi(hub: Hub, auth: Authenticator, metrics: Registry, refuse: Refuse, publish: HttpPublish): Hono<AuthedEnv> {
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

  // The lean path (http-publish-route.ts) takes nearly every publish before Hono sees it; these
  // routes answer the rest (an encoded or odd path, an upgrade request) the same way. Before `identify`: the publish path checks credentials itself.
  const publishRoute = async (c: Context<AuthedEnv>, topic: string | null) => {
    const reply = await publish({ incoming: c.env.incoming, client: c.get('client'), path: c.req.path, topic, queryToken: c.req.query('token') });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (reply.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter);
    return c.body(reply.body, reply.status as ContentfulStatusCode, headers);
  };
  api.post('/api/publish', (c) => publishRoute(c, null));
  api.post('/api/publish/:topic{.+}', (c) => publishRoute(c, c.req.param('topic')));

  // Every other route knows its caller; bad credentials are refused even where anonymous would do.
  const identify = createMiddleware<AuthedEnv>(async (c, next) => {
    const token = tokenOf(c);
    const result = await auth.authenticate(token);
    if (!result.ok) return refuse(c, 'unauthorized', credentialSetting(token), result.reason);
    c.set('principal', result.principal);
    await next();
  });
  api.use('/api/*', identify);
  // What the publish routes do not take (another method, `/api/publish/`) still meets their
  // origin and content-type rule before the 404, as it always has.
  api.use('/api/publish/*', async (c, next) => {
    const problem = publishProblem(c.env.incoming, c.get('client'), config);
    if (!problem) return next();
    return problem.setting ? refuse(c, problem.code, problem.setting, problem.message) : apiError(c, problem.code, problem.message);
  });
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
      return c.body(withMessages({ topic, epoch: page.epoch, lastSeq: page.lastSeq, truncated: page.truncated, more: page.more }, page.messages), 200, { 'content-type': 'application/json' });
    } catch (err) {
      return refusal(c, err);
    }
  });

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
