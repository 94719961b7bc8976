/**
 * The servers under test: how to start each one and how the load generator talks to it.
 * All four deliver the same frame shape (see payload.ts) for topic `bench.topic`.
 */
import { existsSync } from 'node:fs';
import { BENCH_TOPIC } from './payload.ts';
import type { PublisherTarget } from './publisher.ts';
import type { SubscriberTarget } from './subscriber.ts';

export type ServerName = 'ceiling' | 'uws' | 'json' | 'naive' | 'socketio' | 'tickhub';

/** Ceiling first: every other server is reported relative to it. */
export const ALL_SERVERS: readonly ServerName[] = ['ceiling', 'uws', 'json', 'tickhub', 'naive', 'socketio'];

export const HOST = '127.0.0.1';
export const PUBLISH_KEY = 'bench-publish-key';

/** How a publisher sends: one request per message, batches, and (tickhub) the HTTP forms. */
export type IngestForm = 'single' | 'batch' | 'http' | 'http-batch';

/** Publisher options beyond the form. */
export interface PubOptions {
  form?: IngestForm;
  connections?: number;
  batch?: number;
  /** Batch forms: whole batches only (PublisherTarget.fullBatches). */
  fullBatches?: boolean;
  topics?: string[];
  /** HTTP forms: keep-alive sockets per publisher (publisher.ts DEFAULT_HTTP_SOCKETS). */
  httpSockets?: number;
}

export interface ServerDef {
  name: ServerName;
  /** Entry file, relative to the repository root: TypeScript runs under tsx, JavaScript as is. */
  entry: string;
  /** A script that makes `entry` (run once per bench process, before the first start). */
  build?: string;
  env(port: number): Record<string, string>;
  sub(port: number): SubscriberTarget;
  /** The request path of a subscriber to `patterns` (a subscription mix). */
  subPath(patterns: readonly string[]): string;
  pub(port: number, options?: PubOptions): PublisherTarget;
  /** The ingest forms this server takes; the first is its per-message form. */
  forms: readonly IngestForm[];
  /** Whether its publishes are acknowledged (tickhub and the JSON hub answer every request). */
  acked: boolean;
}

/**
 * tickhub settings for benchmarking (names from server/config.ts): a generous per-connection
 * outbox (8 MB, ~18 s of backlog at 3000 msg/s) so a briefly slow reader is not dropped, rate
 * limits effectively off, no per-IP caps on WebSockets or sockets (every bench connection comes
 * from 127.0.0.1), and per-connection logging off.
 */
export const TICKHUB_ENV: Record<string, string> = {
  HUB_PUBLISH_KEY: PUBLISH_KEY,
  LOG_LEVEL: 'warn',
  MAX_CONNECTIONS_PER_IP: '1000000',
  MAX_SOCKETS_PER_IP: '1000000',
  OUTBOX_LIMIT_BYTES: String(8 * 1024 * 1024),
  PUBLISHER_RATE_LIMIT: '100000000',
  RATE_LIMIT: '10000000',
  RATE_BURST: '10000000',
};

const peerPath = (patterns: readonly string[]): string => `/sub?t=${encodeURIComponent(patterns.join(','))}`;

const DEFS: Record<ServerName, ServerDef> = {
  ceiling: peer('ceiling'),
  uws: { ...peer('uws'), env: (port) => ({ PORT: String(port), HOST, TOPICS: '1000' }) },
  json: {
    ...peer('json'),
    entry: 'bench/peers/json-hub.ts',
    pub: (port, o = {}) => ({ url: `ws://${HOST}:${port}/pub`, format: o.form === 'batch' ? 'hub-batch' : 'hub', connections: o.connections, batch: o.batch, fullBatches: o.fullBatches, topics: o.topics }),
    forms: ['single', 'batch'],
    acked: true,
  },
  naive: peer('naive'),
  socketio: {
    name: 'socketio',
    entry: 'bench/peers/socketio.ts',
    env: (port) => ({ PORT: String(port), HOST }),
    sub: (port) => ({ host: HOST, port, path: '/socket.io/?EIO=4&transport=websocket', dialect: 'engineio' }),
    subPath: () => '/socket.io/?EIO=4&transport=websocket',
    pub: (port, o = {}) => ({ url: `ws://${HOST}:${port}/socket.io/?EIO=4&transport=websocket&role=pub`, format: 'socketio', connections: o.connections }),
    forms: ['single'],
    acked: false,
  },
  tickhub: {
    name: 'tickhub',
    // The bundle production runs (docs/operations.md): it starts several times faster than the
    // sources under tsx, which the reconnect storm's restart measures; the code is the same.
    entry: 'dist/hub/main.mjs',
    build: 'scripts/build-hub.ts',
    env: (port) => ({ ...TICKHUB_ENV, PORT: String(port), HOST }),
    sub: (port) => ({ host: HOST, port, path: `/ws/${BENCH_TOPIC}`, dialect: 'ws' }),
    subPath: (patterns) => `/ws/${patterns.join(',')}`,
    pub: (port, o = {}) => {
      const common = { connections: o.connections, batch: o.batch, fullBatches: o.fullBatches, topics: o.topics };
      if (o.form === 'http' || o.form === 'http-batch') return { url: `http://${HOST}:${port}`, format: o.form, token: PUBLISH_KEY, httpSockets: o.httpSockets, ...common };
      return { url: `ws://${HOST}:${port}/ws?token=${PUBLISH_KEY}`, protocol: 'hub.v1', format: o.form === 'batch' ? 'hub-batch' : 'hub', ...common };
    },
    forms: ['single', 'batch', 'http', 'http-batch'],
    acked: true,
  },
};

function peer(name: 'ceiling' | 'naive' | 'uws' | 'json'): ServerDef {
  return {
    name,
    entry: `bench/peers/${name}.ts`,
    env: (port) => ({ PORT: String(port), HOST }),
    sub: (port) => ({ host: HOST, port, path: '/sub', dialect: 'ws' }),
    subPath: peerPath,
    pub: (port, o = {}) => ({ url: `ws://${HOST}:${port}/pub`, format: 'envelope', connections: o.connections, topics: o.topics }),
    forms: ['single'],
    acked: false,
  };
}

/** The definition of `name`. */
export function serverDef(name: ServerName): ServerDef {
  return DEFS[name];
}

/** Why `name` cannot run here, or null if it can (its entry, or the script that builds it, exists). */
export function unavailableReason(name: ServerName, root: string): string | null {
  const needed = DEFS[name].build ?? DEFS[name].entry;
  return existsSync(`${root}/${needed}`) ? null : `${needed} does not exist yet`;
}
