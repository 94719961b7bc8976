/**
 * Hub configuration: every setting and limit, read from the environment and validated at start.
 * Errors name the variable, so a typo stops the hub with a clear message instead of a default.
 * README.md (Configuration) lists the same table for users.
 */
import { z } from 'zod';
import type { CompressionMode } from './core/compression.ts';
import type { ApiKey, Role } from './core/principal.ts';
import { defaultMaxSockets } from './fd-limit.ts';
import {
  apiKeyList,
  defaultPolicies,
  defaultRetention,
  int,
  policyList,
  publicOrigin,
  retentionList,
  trustList,
  type OverflowPolicy,
  type PolicyRule,
  type RetentionRule,
} from './config-formats.ts';

export { defaultPolicies, defaultRetention, type OverflowPolicy, type PolicyRule, type RetentionRule } from './config-formats.ts';
import { loadJwksFile, loadPublicKeyFile, parseJwksUrl, PUBLIC_KEY_ALGS, type JwksConfig, type JwksUrlConfig, type PublicKeyConfig } from './edge/jwt-keys.ts';
import { readTlsPair } from './edge/tls.ts';

export type JwtRequireExp = 'elevated' | 'all' | 'none';

export interface HubConfig {
  port: number;
  host: string;
  /** Secret that lets a client publish to any topic; null means nobody but the hub can. */
  publishKey: string | null;
  /** Static API keys for scripts, each with a role and publish patterns. */
  apiKeys: ApiKey[];
  /** HS256 secret for JWTs; null disables JWTs. */
  jwtSecret: string | null;
  /** PEM SPKI public key for RS256 or ES256 JWTs (JWT_PUBLIC_KEY_FILE, alg pinned by JWT_PUBLIC_KEY_ALG); null = none. */
  jwtPublicKey: PublicKeyConfig | null;
  /** Local JWKS for RS256/ES256 JWTs (JWT_JWKS_FILE), each key pinning its `alg`, chosen by `kid`; null = none. */
  jwtJwks: JwksConfig | null;
  /** JWKS fetched over http(s) (JWT_JWKS_URL), cached and refetched after JWT_JWKS_COOLDOWN_MS on an unknown kid; null = none. */
  jwtJwksUrl: JwksUrlConfig | null;
  /** How long before a connection's credential expires it is warned (`expiring`); half its life if that is shorter. */
  jwtExpiryWarningMs: number;
  /** Which JWTs must carry `exp`: `elevated` = publisher and admin, `all`, or `none`. */
  jwtRequireExp: JwtRequireExp;
  /** What callers without credentials may do; 'none' refuses them. */
  anonymousRole: Role | 'none';
  /** Origins browsers may open WebSockets from, besides the hub's own; `*` allows any. */
  allowedOrigins: string[];
  maxConnectionsPerIp: number;
  /** Host names (Host header) served besides loopback names and IP literals; `*` accepts any. */
  allowedHosts: string[];
  /**
   * Reverse proxies whose forwarded headers (`Forwarded`, `X-Forwarded-For/-Proto/-Host`) are
   * believed: addresses, CIDRs and proxy-addr's `loopback`, `linklocal`, `uniquelocal`. Empty = none.
   */
  trustedProxies: string[];
  /** The hub's public origin (`https://hub.example.com:8443`), or null to take it from each request. */
  publicUrl: string | null;
  /**
   * PEM certificate (chain) and private key files: when both are set the hub serves https and wss
   * itself on PORT and re-reads them on SIGHUP. Null = plain http/ws (TLS ends at a proxy, if any).
   */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  /** Open sockets of any kind (HTTP, WebSocket, idle TCP) per remote address. */
  maxSocketsPerIp: number;
  /** Open sockets in total, so the process never runs out of file descriptors. */
  maxSockets: number;
  /** Connections the kernel may queue before the hub accepts them (capped by net.core.somaxconn). */
  listenBacklog: number;
  /** Time a client has to send a request's headers / the whole request. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Largest WebSocket frame or HTTP body accepted, in bytes. */
  maxPayload: number;
  /** Messages one batch publish (the `pubs` op, `POST /api/publish`) may carry; its bytes are bounded by maxPayload. */
  maxBatchMessages: number;
  /** Bytes a connection may have buffered and unsent before its overflow policy acts. */
  outboxLimitBytes: number;
  /**
   * How long the hub collects outgoing messages before writing them: 0 = right after the event
   * (socket read, timer) that produced them. A window of a few ms puts more messages in each write (fewer
   * syscalls, higher throughput under load) at the cost of up to that much latency.
   */
  flushWindowMs: number;
  /**
   * The window while the event loop is busy (utilization >= 75% over the last 100 ms): under load
   * writes wait up to this long, so messages of several reads share each write; idle, they go at
   * once. 0 = never.
   */
  busyFlushWindowMs: number;
  /**
   * `shared`: permessage-deflate with server_no_context_takeover, each message deflated once for
   * every connection that negotiated it; `off`: no extension, plain frames.
   */
  compression: CompressionMode;
  /** Under COMPRESSION=shared, messages (and replies) shorter than this many bytes are sent plain. */
  compressionMinBytes: number;
  /** What happens at the outbox limit, first matching pattern wins. */
  overflowPolicies: PolicyRule[];
  maxSubscriptionsPerConnection: number;
  /** Frames a connection may send per second (token bucket refill) and its burst. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** The same for connections holding the publish key (producers are trusted, but not unbounded). */
  publisherRateLimitPerSecond: number;
  /** Frames over the rate a connection may send (each answered with an error) before it is closed 1008. */
  rateLimitStrikes: number;
  /** Address+credential pairs whose HTTP publish rate is tracked at once (idle ones are pruned first). */
  httpRateKeys: number;
  /** Interval of the heartbeat sweep; a peer that misses one pong is terminated. */
  heartbeatMs: number;
  /** On SIGTERM, open connections are closed 1012 spread over this window (0 = all at once), then the node exits. */
  drainMs: number;
  /** History retention per topic pattern, first match wins. */
  retention: RetentionRule[];
  /** Live topics at most (cluster-wide with Redis); publishing to a new one beyond it is refused. */
  maxTopics: number;
  /** Chat lines a new line-mode client sees on join. */
  chatBacklog: number;
  /** Line-mode lines a connection may have waiting behind the one running. */
  maxQueuedLines: number;
  /** Bytes of messages one history reply may carry; the page stops before it and says `more`. */
  maxHistoryBytes: number;
  /** Directory of the built dashboard, served at `/`. */
  dashboardDir: string;
  /** Redis for several nodes (Redis broker); null = one process with the memory broker. */
  redisUrl: string | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const DEFAULT_DEV_ORIGINS = 'http://localhost:5173,http://127.0.0.1:5173';

const envSchema = z.object({
  PORT: int(0, 65_535).default(5000),
  HOST: z.string().min(1).default('127.0.0.1'),
  HUB_PUBLISH_KEY: z.string().min(8, 'must be at least 8 characters').optional(),
  API_KEYS: apiKeyList.default([]),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_PUBLIC_KEY_FILE: z.string().optional(),
  JWT_PUBLIC_KEY_ALG: z.enum(PUBLIC_KEY_ALGS).optional(),
  JWT_JWKS_FILE: z.string().optional(),
  JWT_JWKS_URL: z.string().optional(),
  JWT_JWKS_COOLDOWN_MS: int(0, 86_400_000).default(30_000),
  JWT_JWKS_CACHE_MS: int(1_000, 604_800_000).default(600_000),
  JWT_JWKS_TIMEOUT_MS: int(100, 60_000).default(5_000),
  JWT_EXPIRY_WARNING_MS: int(0, 86_400_000).default(30_000),
  JWT_REQUIRE_EXP: z.enum(['elevated', 'all', 'none']).default('elevated'),
  ANONYMOUS_ROLE: z.enum(['none', 'viewer', 'operator']).default('operator'),
  ALLOWED_ORIGINS: z.string().default(DEFAULT_DEV_ORIGINS),
  MAX_CONNECTIONS_PER_IP: int(1, 1_000_000).default(500),
  ALLOWED_HOSTS: z.string().default(''),
  TRUSTED_PROXIES: trustList.default([]),
  PUBLIC_URL: publicOrigin.optional(),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  MAX_SOCKETS_PER_IP: int(1, 1_000_000).default(1000),
  MAX_SOCKETS: int(16, 10_000_000).optional(),
  LISTEN_BACKLOG: int(1, 1_000_000).default(65_535),
  HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  MAX_PAYLOAD: int(256, 16 * 1024 * 1024).default(64 * 1024),
  MAX_BATCH_MESSAGES: int(1, 100_000).default(1000),
  OUTBOX_LIMIT_BYTES: int(16 * 1024, 1024 * 1024 * 1024).default(1024 * 1024),
  FLUSH_WINDOW_MS: int(0, 1_000).default(0),
  BUSY_FLUSH_WINDOW_MS: int(0, 100).default(2),
  COMPRESSION: z.enum(['off', 'shared']).default('off'),
  COMPRESSION_MIN_BYTES: int(0, 16 * 1024 * 1024).default(256),
  OVERFLOW_POLICIES: policyList.default(defaultPolicies),
  MAX_SUBSCRIPTIONS: int(1, 100_000).default(256),
  RATE_LIMIT: int(1, 10_000_000).default(200),
  RATE_BURST: int(1, 10_000_000).default(400),
  RATE_STRIKES: int(1, 1_000_000).default(20),
  HTTP_RATE_KEYS: int(100, 10_000_000).default(10_000),
  PUBLISHER_RATE_LIMIT: int(1, 100_000_000).default(100_000),
  HEARTBEAT_MS: int(100, 3_600_000).default(15_000),
  DRAIN_MS: int(0, 600_000).default(10_000),
  HISTORY: retentionList.default(defaultRetention),
  MAX_TOPICS: int(1, 100_000_000).default(100_000),
  CHAT_BACKLOG: int(0, 1_000).default(20),
  MAX_QUEUED_LINES: int(1, 100_000).default(128),
  MAX_HISTORY_BYTES: int(4 * 1024, 1024 * 1024 * 1024).default(1024 * 1024),
  DASHBOARD_DIR: z.string().min(1).default('dashboard/dist'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'must be redis://[user:password@]host:port[/db] or rediss://...')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Build the config from environment-style settings (missing ones take their defaults).
 * Throws ConfigError naming every invalid setting.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): HubConfig {
  const relevant = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) {
    throw new ConfigError(`invalid configuration:\n  HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS (${e.REQUEST_TIMEOUT_MS})`);
  }
  const keyProblems: string[] = [];
  if (e.JWT_PUBLIC_KEY_FILE && !e.JWT_PUBLIC_KEY_ALG) keyProblems.push(`  JWT_PUBLIC_KEY_ALG: required with JWT_PUBLIC_KEY_FILE (${PUBLIC_KEY_ALGS.join(' or ')})`);
  if (e.JWT_PUBLIC_KEY_ALG && !e.JWT_PUBLIC_KEY_FILE) keyProblems.push('  JWT_PUBLIC_KEY_ALG: set without JWT_PUBLIC_KEY_FILE');
  const load = <T>(name: string, fn: () => T): T | null => {
    try {
      return fn();
    } catch (err) {
      keyProblems.push(`  ${name}: ${(err as Error).message}`);
      return null;
    }
  };
  const jwtPublicKey = e.JWT_PUBLIC_KEY_FILE && e.JWT_PUBLIC_KEY_ALG ? load('JWT_PUBLIC_KEY_FILE', () => loadPublicKeyFile(e.JWT_PUBLIC_KEY_FILE!, e.JWT_PUBLIC_KEY_ALG!)) : null;
  const jwtJwks = e.JWT_JWKS_FILE ? load('JWT_JWKS_FILE', () => loadJwksFile(e.JWT_JWKS_FILE!)) : null;
  if (e.JWT_JWKS_FILE && e.JWT_JWKS_URL) keyProblems.push('  JWT_JWKS_URL: set with JWT_JWKS_FILE; use one JWKS, the file or the URL');
  const jwksUrl = e.JWT_JWKS_URL ? load('JWT_JWKS_URL', () => parseJwksUrl(e.JWT_JWKS_URL!)) : null;
  const jwtJwksUrl: JwksUrlConfig | null = jwksUrl
    ? { url: jwksUrl, cooldownMs: e.JWT_JWKS_COOLDOWN_MS, cacheMaxAgeMs: e.JWT_JWKS_CACHE_MS, timeoutMs: e.JWT_JWKS_TIMEOUT_MS }
    : null;
  if (keyProblems.length > 0) throw new ConfigError(`invalid configuration:\n${keyProblems.join('\n')}`);
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    const [set, missing] = e.TLS_CERT_FILE === undefined ? ['TLS_KEY_FILE', 'TLS_CERT_FILE'] : ['TLS_CERT_FILE', 'TLS_KEY_FILE'];
    throw new ConfigError(`invalid configuration:\n  ${missing}: must be set with ${set} (both or neither)`);
  }
  if (e.TLS_CERT_FILE !== undefined && e.TLS_KEY_FILE !== undefined) {
    try {
      readTlsPair(e.TLS_CERT_FILE, e.TLS_KEY_FILE);
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  ${(err as Error).message}`);
    }
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publishKey: e.HUB_PUBLISH_KEY ?? null,
    apiKeys: e.API_KEYS,
    jwtSecret: e.JWT_SECRET ?? null,
    jwtPublicKey,
    jwtJwks,
    jwtJwksUrl,
    jwtExpiryWarningMs: e.JWT_EXPIRY_WARNING_MS,
    jwtRequireExp: e.JWT_REQUIRE_EXP,
    anonymousRole: e.ANONYMOUS_ROLE,
    allowedOrigins: e.ALLOWED_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean),
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    allowedHosts: e.ALLOWED_HOSTS.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    trustedProxies: e.TRUSTED_PROXIES,
    publicUrl: e.PUBLIC_URL ?? null,
    tlsCertFile: e.TLS_CERT_FILE ?? null,
    tlsKeyFile: e.TLS_KEY_FILE ?? null,
    maxSocketsPerIp: e.MAX_SOCKETS_PER_IP,
    maxSockets: e.MAX_SOCKETS ?? defaultMaxSockets(),
    listenBacklog: e.LISTEN_BACKLOG,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    maxPayload: e.MAX_PAYLOAD,
    maxBatchMessages: e.MAX_BATCH_MESSAGES,
    outboxLimitBytes: e.OUTBOX_LIMIT_BYTES,
    flushWindowMs: e.FLUSH_WINDOW_MS,
    busyFlushWindowMs: e.BUSY_FLUSH_WINDOW_MS,
    compression: e.COMPRESSION,
    compressionMinBytes: e.COMPRESSION_MIN_BYTES,
    overflowPolicies: e.OVERFLOW_POLICIES,
    maxSubscriptionsPerConnection: e.MAX_SUBSCRIPTIONS,
    rateLimitPerSecond: e.RATE_LIMIT,
    rateLimitBurst: e.RATE_BURST,
    rateLimitStrikes: e.RATE_STRIKES,
    httpRateKeys: e.HTTP_RATE_KEYS,
    publisherRateLimitPerSecond: e.PUBLISHER_RATE_LIMIT,
    heartbeatMs: e.HEARTBEAT_MS,
    drainMs: e.DRAIN_MS,
    retention: e.HISTORY,
    maxTopics: e.MAX_TOPICS,
    chatBacklog: e.CHAT_BACKLOG,
    maxQueuedLines: e.MAX_QUEUED_LINES,
    maxHistoryBytes: e.MAX_HISTORY_BYTES,
    dashboardDir: e.DASHBOARD_DIR,
    redisUrl: e.REDIS_URL ?? null,
    logLevel: e.LOG_LEVEL,
  };
}

/** Config for tests and embedding: defaults plus overrides, port 0. */
export function testConfig(overrides: Partial<HubConfig> = {}): HubConfig {
  return { ...loadConfig({ PORT: '0', LOG_LEVEL: 'silent' }), ...overrides };
}
