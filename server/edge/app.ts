/**
 * The edge: composes the HTTP API, the WebSocket routes and the dashboard, with security headers.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from 'pino';
import { createAuthenticator } from './credentials.ts';
import type { ChatService } from '../chat/chat.ts';
import type { Hub } from '../core/hub.ts';
import type { Telemetry } from '../observability/telemetry.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createHttpApi } from './http-api.ts';
import { apiError, type Env } from './http-util.ts';
import { createWsRoutes } from './ws-routes.ts';
import { isHandshake } from './lean-upgrade.ts';
import { hostAllowed } from './origin.ts';
import { upgradeRefusals } from './upgrade-refusal.ts';

/**
 * Build the Hono app for a hub.
 *
 * @example
 * const app = createApp(hub, chat, log, telemetry);
 * serve({ fetch: app.fetch, websocket: { server: wss } });
 */
export function createApp(hub: Hub, chat: ChatService, log: Logger, telemetry: Telemetry): Hono<Env> {
  const app = new Hono<Env>();
  const auth = createAuthenticator(hub.config);

  app.onError((err, c) => {
    hub.logError(err);
    return apiError(c, 'internal', 'internal error');
  });
  app.use('*', upgradeRefusals());

  // The dashboard may talk only to its own origin ('self' covers same-host ws: and wss:).
  const withSecureHeaders = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      connectSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      objectSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'self'"],
    },
    crossOriginEmbedderPolicy: false,
  });
  // Accepted WebSocket handshakes skip them: no browser renders a 101, and the headers would cost
  // every connection a Headers object and ~600 bytes in its 101 response. Everything else,
  // refused upgrades and any request that merely carries `Upgrade`, gets them.
  app.use('*', async (c, next) => {
    await next();
    if (!isHandshake(c.res)) await withSecureHeaders(c, async () => {});
  });

  // DNS rebinding: a foreign name resolving to the hub is refused before any route runs.
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (!hostAllowed(host, hub.config.allowedHosts)) return apiError(c, 'forbidden', `host ${host} is not served here (ALLOWED_HOSTS)`);
    await next();
  });

  app.route('/', createWsRoutes(hub, chat, auth, log));
  app.route('/', createHttpApi(hub, auth, createMetrics(hub, telemetry, log)));
  serveDashboard(app, hub.config.dashboardDir);
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
