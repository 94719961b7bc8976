/**
 * Start a hub: broker, hub core, Hono app and the HTTP/WebSocket server, as one object with a
 * graceful `close()`. Used by `main.ts`, `npm start` and every integration test.
 */
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { ChatService } from './chat/chat.ts';
import { createApp } from './edge/app.ts';
import type { RawRoute } from './edge/http-publish-route.ts';
import type { UpgradeRoute } from './edge/ws-upgrade.ts';
import { createClientResolver } from './edge/client-address.ts';
import { limitSockets } from './edge/socket-limits.ts';
import { guardUpgrades } from './edge/upgrade-guard.ts';
import { describeCertificate, readTlsPair, type TlsPair } from './edge/tls.ts';
import type { HubConfig } from './config.ts';
import { APP_SUBPROTOCOL } from '../protocol/wire.ts';
import type { Broker } from './broker/broker.ts';
import { MemoryBroker } from './broker/memory.ts';
import { RedisBroker } from './broker/redis/broker.ts';
import { perMessageDeflateOptions } from './core/compression.ts';
import { drainConnections } from './core/drain.ts';
import { Hub } from './core/hub.ts';
import { Telemetry } from './observability/telemetry.ts';
import { createLogger } from './observability/log.ts';

export interface RunningHub {
  hub: Hub;
  /** Chat: nicks, presence and the chat rule on every path into topic `chat`. */
  chat: ChatService;
  port: number;
  /** `http://host:port`, or `https://host:port` with TLS_CERT_FILE / TLS_KEY_FILE */
  httpUrl: string;
  /** `ws://host:port/ws`, or `wss://host:port/ws` with TLS */
  wsUrl: string;
  /**
   * TLS only (SIGHUP in main.ts): re-read TLS_CERT_FILE and TLS_KEY_FILE and serve the new pair to
   * new connections; open ones keep theirs. A bad pair is logged at error and rejected, and the
   * old one stays. Without TLS it does nothing.
   */
  reloadTls(): Promise<void>;
  /** Close every client with 1001, stop accepting, release the port. */
  close(): Promise<void>;
  /**
   * Rolling restart: /healthz fails (503 `draining`) and new upgrades are refused (503) at once;
   * open clients are closed 1012 spread over DRAIN_MS; then, when they are all gone or the window
   * ends, close() (1001 for the rest). Resolves when the node is closed.
   */
  drain(): Promise<void>;
}

export interface StartOptions {
  broker?: Broker;
  log?: Logger;
}

/**
 * @example
 * const running = await startHub(loadConfig());
 * console.log(running.wsUrl);
 * await running.close();
 */
export async function startHub(config: HubConfig, options: StartOptions = {}): Promise<RunningHub> {
  const log = options.log ?? createLogger(config.logLevel);
  const tls = tlsFiles(config);
  const pair = tls && readTlsPair(tls.cert, tls.key); // throws naming TLS_CERT_FILE / TLS_KEY_FILE
  if (pair) log.info({ certificate: describeCertificate(pair.cert) }, 'TLS certificate loaded');
  const broker =
    options.broker ??
    (config.redisUrl
      ? await RedisBroker.connect({ url: config.redisUrl, retention: config.retention, maxTopics: config.maxTopics, log: log.child({ component: 'redis' }) })
      : new MemoryBroker({ retention: config.retention, maxTopics: config.maxTopics, log }));
  const hub = new Hub(config, broker, log);
  const chat = new ChatService(hub, log);
  const telemetry = new Telemetry(hub, log);
  telemetry.start();
  const clients = createClientResolver(config.trustedProxies); // TRUSTED_PROXIES, compiled once
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxPayload,
    // ws's own per-socket deflate costs CPU per subscriber; `shared` only negotiates it here and the hub deflates once per message.
    perMessageDeflate: config.compression === 'shared' ? perMessageDeflateOptions() : false,
    clientTracking: false, // the hub tracks its own connections
    handleProtocols: (protocols) => (protocols.has(APP_SUBPROTOCOL) ? APP_SUBPROTOCOL : false),
  });
  const { app, publishRoute, upgradeRoute } = createApp(hub, chat, log, telemetry, clients, wss);
  let stopUpgradeGuard = () => {};
  const server: ServerType = await new Promise((resolve, reject) => {
    const common = { fetch: app.fetch, hostname: config.host, websocket: { server: wss } };
    const s = pair
      ? createAdaptorServer({ ...common, createServer: inFront(publishRoute, createHttpsServer), serverOptions: { ...httpTimeouts(config), ...tlsOptions(config, pair) } })
      : createAdaptorServer({ ...common, createServer: inFront(publishRoute, createHttpServer), serverOptions: httpTimeouts(config) });
    inFrontOfUpgrades(s as Server, upgradeRoute);
    s.once('error', reject);
    // Node's default backlog (511) overflows when thousands reconnect at once: the kernel then
    // drops their handshakes and they hang in SYN-ACK retransmits for seconds.
    s.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, () => resolve(s));
    limitSockets(s, config, log, clients.trusts);
    stopUpgradeGuard = guardUpgrades(s as Server, wss, config.requestTimeoutMs, log);
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const scheme = pair ? 's' : '';
  let closing: Promise<void> | undefined;
  let draining: Promise<void> | undefined;
  const running: RunningHub = {
    hub,
    chat,
    port,
    httpUrl: `http${scheme}://${host}:${port}`,
    wsUrl: `ws${scheme}://${host}:${port}/ws`,
    async reloadTls() {
      if (!tls) return;
      let next: TlsPair;
      try {
        next = readTlsPair(tls.cert, tls.key);
        (server as HttpsServer).setSecureContext(secureContext(next));
      } catch (err) {
        log.error({ err: { message: (err as Error).message } }, 'TLS reload failed; still serving the previous certificate');
        throw err;
      }
      log.info({ certificate: describeCertificate(next.cert) }, 'TLS certificate reloaded');
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        telemetry.stop();
        stopUpgradeGuard();
        hub.close(); // server.close() leaves open WebSockets alone
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        await Promise.race([closed, delay(2000)]);
        if ('closeAllConnections' in server) server.closeAllConnections();
        await broker.close();
      })();
      return closing;
    },
    drain() {
      draining ??= (async () => {
        hub.startDraining();
        log.info({ connections: hub.connections.size, drainMs: config.drainMs }, 'draining');
        await drainConnections(hub.connections, config.drainMs, log);
        await running.close();
      })();
      return draining;
    },
  };
  return running;
}

/**
 * node-server's `createServer` with `route` asked first: what it takes never becomes a Request.
 * (Upgrade requests do not pass here: they come through the server's 'upgrade' event, inFrontOfUpgrades.)
 */
function inFront<C extends typeof createHttpServer | typeof createHttpsServer>(route: RawRoute, create: C): C {
  const wrapped = (options: object, listener: RequestListener) => (create as (o: object, l: RequestListener) => Server)(options, (req, res) => route(req, res) || listener(req, res));
  return wrapped as C;
}

/**
 * node-server's `upgrade` listener with `route` asked first: `route` answers every WebSocket
 * upgrade (the routes', and 404 for any other path), so node-server sees one only where `route`
 * itself failed to read it, and exactly one of the two answers each upgrade.
 */
function inFrontOfUpgrades(server: Server, route: UpgradeRoute): void {
  const listeners = server.listeners('upgrade') as Array<(...args: Parameters<UpgradeRoute>) => void>;
  if (listeners.length !== 1) throw new Error(`expected @hono/node-server's one 'upgrade' listener, found ${listeners.length}`);
  const [nodeServer] = listeners;
  server.removeListener('upgrade', nodeServer);
  server.on('upgrade', (req, socket, head) => route(req, socket, head) || nodeServer.call(server, req, socket, head));
}

/**
 * Slow clients may not hold sockets: headers must arrive within HEADERS_TIMEOUT_MS and the whole
 * request within REQUEST_TIMEOUT_MS (Node answers 408 and closes). Node checks these every
 * `connectionsCheckingInterval`, so that is a fraction of the smaller bound; an idle keep-alive
 * socket is closed after at most 5 s.
 */
function httpTimeouts(config: HubConfig) {
  const { headersTimeoutMs: headersTimeout, requestTimeoutMs: requestTimeout } = config;
  return {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: Math.min(5000, headersTimeout),
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
}

function tlsFiles(config: HubConfig): { cert: string; key: string } | null {
  return config.tlsCertFile !== null && config.tlsKeyFile !== null ? { cert: config.tlsCertFile, key: config.tlsKeyFile } : null;
}

/** The secure context of the hub's own TLS: what the server starts with and a reload swaps in. */
function secureContext(pair: TlsPair) {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' as const };
}

/** The https server's options: its context, and a client must finish its handshake within HEADERS_TIMEOUT_MS. */
function tlsOptions(config: HubConfig, pair: TlsPair) {
  return { ...secureContext(pair), handshakeTimeout: config.headersTimeoutMs };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
