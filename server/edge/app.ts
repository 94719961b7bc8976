/**
 * The edge: composes the HTTP API, the WebSocket and SSE routes and the dashboard, with security
 * headers; and beside the app, the lean routes that answer publishes and WebSocket upgrades on
 * the raw node request before it (http-publish-route.ts, ws-upgrade.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import { createAuthenticator } from './credentials.ts';
import type { ChatService } from '../chat/chat.ts';
import type { Hub } from '../core/hub.ts';
import type { Telemetry } from '../observability/telemetry.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createHttpApi } from './http-api.ts';
import { apiError, overTls, type Env } from './http-util.ts';
import { createSocketOpener, createWsRoutes } from './ws-routes.ts';
import { createWsUpgrade, type UpgradeRoute } from './ws-upgrade.ts';
import { createSseRoutes } from './sse-routes.ts';
import { createAdmission } from './admission.ts';
import type { ClientResolver } from './client-address.ts';
import { hostProblem } from './origin.ts';
import { createRefusalLog, createRefusals } from './refusals.ts';
import { createHttpPublish } from './http-publish.ts';
import { createPublishRoute, type RawRoute } from './http-publish-route.ts';
import { upgradeRefusals } from './upgrade-refusal.ts';
import { setSecurityHeaders } from './security-headers.ts';

/** The edge: the Hono app, the lean path that answers most publishes before it, and the one for WebSocket upgrades. */
export interface Edge {
  app: Hono<Env>;
  publishRoute: RawRoute;
  upgradeRoute: UpgradeRoute;
}

/**
 * Build the Hono app for a hub, and the publish and upgrade paths beside it (`wss` completes the handshakes).
 *
 * @example
 * const { app, publishRoute, upgradeRoute } = createApp(hub, chat, log, telemetry, createClientResolver(config.trustedProxies), wss);
 * serve({ fetch: app.fetch, websocket: { server: wss } }); // with both routes in front (server.ts)
 */
export function createApp(hub: Hub, chat: ChatService, log: Logger, telemetry: Telemetry, clients: ClientResolver, wss: WebSocketServer): Edge {
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

  // Security headers (security-headers.ts) on everything the app answers, upgrades it refuses
  // included. WebSocket handshakes never reach it (ws-upgrade.ts accepts them, without these
  // headers: no browser renders a 101, and they would cost every connection ~600 bytes).
  app.use('*', async (c, next) => {
    await next();
    if (c.res === RESPONSE_ALREADY_SENT) return; // an SSE stream whose head is written
    setSecurityHeaders(c.res.headers, overTls(c, config.publicUrl));
  });

  // DNS rebinding: a foreign name resolving to the hub is refused before any route runs. Behind
  // a trusted proxy the name judged is the one the browser sent to the proxy (its forwarded host).
  app.use('*', async (c, next) => {
    const problem = hostProblem(c.req.header('host'), c.get('client'), servedHosts);
    if (problem) return refuse(c, 'forbidden', 'ALLOWED_HOSTS', problem);
    await next();
  });

  const admit = createAdmission(hub, auth, logRefusal);
  app.route('/', createWsRoutes(hub));
  app.route('/', createSseRoutes(hub, admit, log));
  const publish = createHttpPublish(hub, auth, logRefusal);
  app.route('/', createHttpApi(hub, auth, createMetrics(hub, telemetry, log), refuse, publish));
  serveDashboard(app, config.dashboardDir);
  const publicTls = config.publicUrl?.startsWith('https:') ?? false;
  const publishRoute = createPublishRoute(publish, { clients, servedHosts, publicTls, onInternal: (err) => hub.logError(err) });
  const upgradeRoute = createWsUpgrade({ hub, wss, admit, open: createSocketOpener(hub, chat, auth, log), clients, servedHosts, logRefusal });
  return { app, publishRoute, upgradeRoute };
}

function serveDashboard(app: Hono<Env>, dir: string): void {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'index.html'))) {
    app.get('/', (c) => c.text(`tickhub is running; the dashboard is not built (no ${dir}/index.html): run npm run build\n`, 503));
    return;
  }
  app.use('/*', serveStatic({ root: path.relative(process.cwd(), root) || '.' }));
}
