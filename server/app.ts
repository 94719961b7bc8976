/**
 * The edge: HTTP routes and WebSocket upgrades. It checks credentials and input once, before
 * any WebSocket exists, and hands each socket to the session of its mode.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { upgradeWebSocket, type WebSocketLike } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { WSEvents } from 'hono/ws';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { timingSafeEqual } from 'node:crypto';
import { APP_SUBPROTOCOL } from './protocol/wire.ts';
import { AppSession } from './hub/app-mode.ts';
import { CloseCode, type Connection, type ConnectionMode, type Role } from './hub/connection.ts';
import { HubRefusal, type Hub, type SubscribeOptions } from './hub/hub.ts';
import { LineSession } from './hub/line-mode.ts';
import { TokenBucket } from './hub/rate-limit.ts';
import type { Session } from './hub/session.ts';
import { TapSession } from './hub/tap-mode.ts';
import { topicError } from './hub/topics.ts';
import type { Telemetry } from './hub/telemetry.ts';
import { createMetrics } from './metrics.ts';

type Env = { Bindings: { incoming: IncomingMessage } };

const httpStatus: Record<string, 400 | 401 | 403 | 404 | 413 | 429 | 500 | 503> = {
  bad_json: 400,
  bad_request: 400,
  bad_topic: 400,
  unauthorized: 401,
  forbidden: 403,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

const apiError = (c: Context, code: string, message: string) => c.json({ error: { code, message } }, httpStatus[code] ?? 400);

/**
 * Build the Hono app for a hub.
 *
 * @example
 * const app = createApp(hub, log);
 * serve({ fetch: app.fetch, websocket: { server: wss } });
 */
export function createApp(hub: Hub, log: Logger, telemetry: Telemetry): Hono<Env> {
  const { config } = hub;
  const app = new Hono<Env>();
  const metrics = createMetrics(hub, telemetry);
  const isPublishKey = (token: string | undefined): boolean => !!token && !!config.publishKey && safeEqual(token, config.publishKey);

  app.onError((err, c) => {
    hub.logError(err);
    return apiError(c, 'internal', 'internal error');
  });

  app.get('/healthz', (c) =>
    c.json({ status: 'ok', epoch: hub.epoch, connections: hub.connections.size, uptimeSeconds: Math.round(process.uptime()) }),
  );

  app.get('/api/topics', (c) => c.json({ topics: hub.topics() }));

  app.get('/api/stats', (c) => c.json(hub.stats()));

  app.get('/metrics', async (c) => c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType }));

  app.get('/api/history/:topic{.+}', async (c) => {
    const topic = c.req.param('topic');
    const since = optionalInt(c.req.query('since'));
    const limitParam = optionalInt(c.req.query('limit'));
    const limit = limitParam === undefined ? 100 : limitParam;
    if (since === null || limit === null || limit > 10_000) return apiError(c, 'bad_request', "'since' and 'limit' must be non-negative integers (limit <= 10000)");
    try {
      const page = await hub.history(topic, { since, limit });
      return c.json({ topic, epoch: page.epoch, lastSeq: page.lastSeq, truncated: page.truncated, messages: page.messages.map((e) => JSON.parse(e.json)) });
    } catch (err) {
      if (err instanceof HubRefusal) return apiError(c, err.code, err.message);
      throw err;
    }
  });

  app.post(
    '/api/publish/:topic{.+}',
    bodyLimit({ maxSize: config.maxPayload, onError: (c) => apiError(c, 'payload_too_large', `body larger than MAX_PAYLOAD (${config.maxPayload} bytes)`) }),
    async (c) => {
      const topic = c.req.param('topic');
      const token = bearer(c.req.header('authorization'));
      if (topic !== 'chat' && !isPublishKey(token)) {
        return apiError(c, 'unauthorized', 'publishing needs Authorization: Bearer <HUB_PUBLISH_KEY>');
      }
      let data: unknown;
      try {
        data = JSON.parse(await c.req.text());
      } catch (err) {
        return apiError(c, 'bad_json', `body is not JSON: ${(err as Error).message}`);
      }
      try {
        const env = await hub.publish(hub.checkPublish(topic, isPublishKey(token)), data);
        return c.json({ topic, seq: env.seq, ts: env.ts });
      } catch (err) {
        if (err instanceof HubRefusal) return apiError(c, err.code, err.message);
        throw err;
      }
    },
  );

  /** Resolve the caller's role from `?token=` or a Bearer header; undefined = bad credentials. */
  const roleOf = (c: Context): Role | undefined => {
    const token = c.req.query('token') ?? bearer(c.req.header('authorization'));
    if (token === undefined || token === '') return 'anonymous';
    return isPublishKey(token) ? 'publisher' : undefined;
  };

  app.get('/ws', async (c): Promise<Response> => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.text('this is a WebSocket endpoint: wscat -c ws://host:port/ws\n', 426);
    const role = roleOf(c);
    if (!role) return apiError(c, 'unauthorized', 'invalid token');
    const offered = (c.req.header('sec-websocket-protocol') ?? '').split(',').map((s) => s.trim());
    const mode: ConnectionMode = offered.includes(APP_SUBPROTOCOL) ? 'app' : 'line';
    return upgradeWebSocket(c, socketEvents(c, mode, role, (conn) =>
      mode === 'app' ? new AppSession(hub, conn, isPublishKey) : new LineSession(hub, conn),
    ));
  });

  app.get('/ws/:patterns{.+}', async (c): Promise<Response> => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.text('this is a WebSocket tap: wscat -c ws://host:port/ws/<pattern>\n', 426);
    const role = roleOf(c);
    if (!role) return apiError(c, 'unauthorized', 'invalid token');
    const patterns = c.req.param('patterns').split(',').map((p) => p.trim()).filter(Boolean);
    for (const p of patterns) {
      const problem = topicError(p, true);
      if (problem) return apiError(c, 'bad_topic', `${p}: ${problem}`);
    }
    if (patterns.length > config.maxSubscriptionsPerConnection) return apiError(c, 'too_many_subscriptions', `at most ${config.maxSubscriptionsPerConnection} patterns`);
    const options = tapOptions(c);
    if (typeof options === 'string') return apiError(c, 'bad_request', options);
    return upgradeWebSocket(c, socketEvents(c, 'tap', role, (conn) => new TapSession(hub, conn, patterns, options)));
  });

  /** Wire a socket's lifecycle to the hub: register, rate-limit, dispatch, clean up. */
  function socketEvents(c: Context<Env>, mode: ConnectionMode, role: Role, createSession: (conn: Connection) => Session): WSEvents<WebSocketLike> {
    const remote = c.env.incoming.socket.remoteAddress ?? 'unknown';
    let conn: Connection | undefined;
    let session: Session | undefined;
    let bucket: TokenBucket | undefined;
    let bucketRole: Role | undefined;
    return {
      onOpen(_evt, ws) {
        conn = hub.attach(ws.raw as unknown as WebSocket, mode, role, remote);
        session = createSession(conn);
        log.info({ conn: conn.id, mode, role, remote }, 'connection open');
        session.start();
      },
      onMessage(evt) {
        if (!conn || !session || conn.closed) return;
        conn.alive = true;
        conn.framesIn++;
        if (bucketRole !== conn.role) {
          // The role can change (auth op), and with it the allowance.
          bucketRole = conn.role;
          bucket = conn.role === 'publisher'
            ? new TokenBucket(config.publisherRateLimitPerSecond, config.publisherRateLimitPerSecond, config.rateLimitStrikes)
            : new TokenBucket(config.rateLimitPerSecond, config.rateLimitBurst, config.rateLimitStrikes);
        }
        const verdict = bucket!.take();
        if (verdict !== 'ok') {
          const [limit, name] = conn.role === 'publisher' ? [config.publisherRateLimitPerSecond, 'PUBLISHER_RATE_LIMIT'] : [config.rateLimitPerSecond, 'RATE_LIMIT'];
          conn.sendJson({ op: 'error', code: 'rate_limited', message: `more than ${limit} frames/s (${name})` });
          if (verdict === 'close') conn.close(CloseCode.policy, 'rate limit exceeded');
          return;
        }
        if (typeof evt.data !== 'string') {
          conn.sendJson({ op: 'error', code: 'binary_unsupported', message: 'binary frames are not supported; send JSON or text lines as text frames' });
          return;
        }
        session.onText(evt.data);
      },
      onClose(evt) {
        if (!conn) return;
        hub.detach(conn);
        log.info({ conn: conn.id, mode, code: evt.code, reason: evt.reason, framesIn: conn.framesIn, framesOut: conn.outbox.stats.framesOut, dropped: conn.dropped }, 'connection closed');
      },
      onError(evt) {
        log.debug({ conn: conn?.id, err: (evt as ErrorEvent).error }, 'socket error');
      },
    };
  }

  serveDashboard(app, config.dashboardDir);
  return app;
}

function serveDashboard(app: Hono<Env>, dir: string): void {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'index.html'))) {
    app.get('/', (c) => c.text(`tickhub is running; the dashboard is not built (no ${dir}/index.html): run npm run build\n`, 503));
    return;
  }
  app.use('/*', serveStatic({ root: path.relative(process.cwd(), root) || '.' }));
}

function tapOptions(c: Context): SubscribeOptions | string {
  const snapshot = optionalInt(c.req.query('snapshot'));
  const since = optionalInt(c.req.query('since'));
  const maxHz = c.req.query('maxHz') === undefined ? undefined : Number(c.req.query('maxHz'));
  if (snapshot === null) return "'snapshot' must be a non-negative integer";
  if (since === null) return "'since' must be a non-negative integer";
  if (maxHz !== undefined && !(maxHz >= 0 && maxHz <= 1000)) return "'maxHz' must be a number from 0 to 1000";
  return { snapshot, since, maxHz, epoch: c.req.query('epoch') };
}

/** undefined when absent, null when present but not a non-negative integer. */
function optionalInt(text: string | undefined): number | undefined | null {
  if (text === undefined) return undefined;
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return m ? m[1].trim() : undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
