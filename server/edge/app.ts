/**
 * The edge: composes the HTTP API, the WebSocket routes and the dashboard, with security headers.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { createAuthenticator } from './credentials.ts';
import type { ChatService } from '../chat/chat.ts';
import type { Hub } from '../core/hub.ts';
import type { Telemetry } from '../observability/telemetry.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createHttpApi } from './http-api.ts';
import { apiError, overTls, type Env } from './http-util.ts';
import { createWsRoutes } from './ws-routes.ts';
import { createSseRoutes } from './sse-routes.ts';
import { createAdmission } from './admission.ts';
import { isHandshake } from './lean-upgrade.ts';
import type { ClientResolver } from './client-address.ts';
import { effectiveHost, hostAllowed } from './origin.ts';
import { createRefusalLog, createRefusals } from './refusals.ts';
import { createHttpPublish } from './http-publish.ts';
import { createPublishRoute, type RawRoute } from './http-publish-route.ts';
import { upgradeRefusals } from './upgrade-refusal.ts';
import { setSecurityHeaders } from './security-headers.ts';

/** The edge: the Hono app, and the lean path that answers most publishes before it. */
export interface Edge {
  app: Hono<Env>;
  publishRoute: RawRoute;
}

/**
 * Build the Hono app for a hub, and the publish path beside it.
 *
 * @example
 * const { app, publishRoute } = createApp(hub, chat, log, telemetry, createClientResolver(config.trustedProxies));
 * serve({ fetch: app.fetch, websocket: { server: wss } }); // with publishRoute in front (server.ts)
 */
export function createApp(hub: Hub, chat: ChatService, log: Logger, telemetry: Telemetry, clients: ClientResolver): Edge {
  const app = new Hono<Env>();
  const { config } = hub;
  const auth = createAuthenticator(config);
  const logRefusal = createRefusalLog(log);
  const refuse = createRefusals(logRefusal);
  // PUBLIC_URL's host is served without listing it in ALLOWED_HOSTS.
  const servedHosts = config.publicUrl ? [...config.allowedHosts, new URL(config.publicUrl).hostname.toLowerCase()] : config.allowedHosts;

  app.onError((err, c) => {
    hub.logError(err);
    return apiError(c, 'internal', 'internal error');
  });
  // A program calling a route that does not exist (a typo, an empty topic, the wrong method) gets
  // the API's JSON error, not a bare text 404.
  app.notFound((c) =>
    c.req.path.startsWith('/api/') || c.req.path === '/api'
      ? apiError(c, 'not_found', `no ${c.req.method} ${c.req.path} here; the HTTP API is in docs/protocol.md#http`)
      : c.text('404 Not Found', 404),
  );
  app.use('*', upgradeRefusals());
  // Who is asking, through TRUSTED_PROXIES: every route and log reads this.
  app.use('*', async (c, next) => {
    c.set('client', clients.of(c.env.incoming));
    await next();
  });

  // Security headers (security-headers.ts). Accepted WebSocket handshakes skip them: no browser renders a 101, and the headers would cost
  // every connection a Headers object and ~600 bytes in its 101 response. Everything else,
  // refused upgrades and any request that merely carries `Upgrade`, gets them.
  app.use('*', async (c, next) => {
    await next();
    if (isHandshake(c.res) || c.res === RESPONSE_ALREADY_SENT) return; // a 101, or an SSE stream whose head is written
    setSecurityHeaders(c.res.headers, overTls(c, config.publicUrl));
  });

  // DNS rebinding: a foreign name resolving to the hub is refused before any route runs. Behind
  // a trusted proxy the name judged is the one the browser sent to the proxy (its forwarded host).
  app.use('*', async (c, next) => {
    const host = effectiveHost(c.req.header('host'), c.get('client'));
    if (!hostAllowed(host, servedHosts)) return refuse(c, 'forbidden', 'ALLOWED_HOSTS', `host ${host} is not served here (ALLOWED_HOSTS or PUBLIC_URL)`);
    await next();
  });

  const admit = createAdmission(hub, auth, refuse);
  app.route('/', createWsRoutes(hub, chat, auth, log, admit));
  app.route('/', createSseRoutes(hub, admit, log));
  const publish = createHttpPublish(hub, auth, logRefusal);
  app.route('/', createHttpApi(hub, auth, createMetrics(hub, telemetry, log), refuse, publish));
  serveDashboard(app, config.dashboardDir);
  const publicTls = config.publicUrl?.startsWith('https:') ?? false;
  const publishRoute = createPublishRoute(publish, { clients, servedHosts, publicTls, onInternal: (err) => hub.logError(err) });
  return { app, publishRoute };
}

function serveDashboard(app: Hono<Env>, dir: string): void {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'index.html'))) {
    app.get('/', (c) => c.text(`tickhub is running; the dashboard is not built (no ${dir}/index.html): run npm run build\n`, 503));
    return;
  }
  app.use('/*', serveStatic({ root: path.relative(process.cwd(), root) || '.' }));
}
