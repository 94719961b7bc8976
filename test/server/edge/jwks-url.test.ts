/**
 * JWT_JWKS_URL: RS256/ES256 keys fetched from a JWKS served over HTTP by a local node:http
 * server (port 0) whose key set the test changes; the keys are made in the test with jose.
 * Real hubs (startHub) judge the upgrades; the authenticator alone gives the refusal reasons.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import WebSocket from 'ws';
import { loadConfig, type HubConfig } from '../../../server/config.ts';
import { createAuthenticator } from '../../../server/edge/credentials.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { sleep } from '../../support/until.ts';
import { configError as loadError } from '../../support/config-error.ts';

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };
let rsa: Pair, rsaNext: Pair, ec: Pair, stranger: Pair;
const claims = { role: 'publisher', publish: ['ticks.>'], sub: 'feeder' };
const signed = (alg: 'RS256' | 'ES256', key: CryptoKey, kid: string) =>
  new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg, typ: 'JWT', kid }).sign(key);
const jwk = async (key: CryptoKey, extra: Partial<JWK>): Promise<JWK> => ({ ...(await exportJWK(key)), ...extra });

/** The JWKS server: `keys` is what it serves now; `hits` counts the fetches; `hang` never answers. */
const served = { keys: [] as JWK[], hits: 0, hang: false };
let server: Server;
let url: string;
const hanging = new Set<import('node:http').ServerResponse>();

const env = (extra: Record<string, string>) => ({ PORT: '0', LOG_LEVEL: 'silent', JWT_JWKS_URL: url, ...extra });
async function reasonOf(config: HubConfig, token: string): Promise<string> {
  const r = await createAuthenticator(config).authenticate(token);
  if (r.ok) throw new Error(`accepted as ${JSON.stringify(r.principal)}`);
  return r.reason;
}
/** 101, or the refused upgrade's status and body. */
function upgrade(hub: RunningHub, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${hub.wsUrl}?token=${token}`, ['hub.v1']);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += String(d)));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      resolve({ status: 101, body: '' });
      ws.close();
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(String(err))) reject(err);
    });
  });
}
const configError = (extra: Record<string, string>): string => loadError(env(extra));

beforeAll(async () => {
  [rsa, rsaNext, ec, stranger] = await Promise.all([
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
  ]);
  server = createServer((req, res) => {
    served.hits++;
    if (served.hang) {
      hanging.add(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('JWT_JWKS_URL', () => {
  it('is validated at config load: http(s) only, no credentials, not with JWT_JWKS_FILE', () => {
    expect(configError({ JWT_JWKS_URL: 'not a url' })).toMatch(/JWT_JWKS_URL: 'not a url' is not a URL/);
    expect(configError({ JWT_JWKS_URL: 'ftp://idp.example/jwks.json' })).toMatch(/JWT_JWKS_URL: must be an http or https URL, not ftp:/);
    expect(configError({ JWT_JWKS_URL: 'https://u:p@idp.example/jwks.json' })).toMatch(/JWT_JWKS_URL: must not carry credentials/);
    expect(configError({ JWT_JWKS_FILE: '/nonexistent/jwks.json' })).toMatch(/JWT_JWKS_URL: set with JWT_JWKS_FILE; use one JWKS, the file or the URL/);
    const config = loadConfig(env({ JWT_JWKS_COOLDOWN_MS: '250' }));
    expect(config.jwtJwksUrl).toEqual({ url, cooldownMs: 250, cacheMaxAgeMs: 600_000, timeoutMs: 5000 });
    expect(loadConfig({ PORT: '0', JWT_JWKS_URL: 'https://idp.example/jwks.json' }).jwtJwksUrl?.url).toBe('https://idp.example/jwks.json');
  });

  it('a real hub admits a token signed by a served key (101) and refuses one signed by another key (401)', async () => {
    served.keys = [await jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256', use: 'sig' }), await jwk(ec.publicKey, { kid: 'ec-1', alg: 'ES256' })];
    const hub = await startHub(loadConfig(env({})));
    try {
      expect((await upgrade(hub, await signed('RS256', rsa.privateKey, 'rsa-1'))).status).toBe(101);
      expect((await upgrade(hub, await signed('ES256', ec.privateKey, 'ec-1'))).status).toBe(101);
      const forged = await upgrade(hub, await signed('ES256', stranger.privateKey, 'ec-1'));
      expect(forged.status).toBe(401);
      expect(forged.body).toContain('JWSSignatureVerificationFailed');
    } finally {
      await hub.close();
    }
  });

  it("pins algorithms: a key's alg must match the token's, a key without alg serves only its own type, HS256 and none are refused", async () => {
    served.keys = [await jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256' }), await jwk(ec.publicKey, { kid: 'ec-noalg' })];
    const config = loadConfig(env({}));
    const auth = createAuthenticator(config);
    expect((await auth.authenticate(await signed('ES256', ec.privateKey, 'ec-noalg'))).ok).toBe(true);
    // ES256 with the RSA key's kid: no key fits.
    expect(await reasonOf(config, await signed('ES256', ec.privateKey, 'rsa-1'))).toBe('invalid token: JWKSNoMatchingKey');
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    expect(await reasonOf(config, `${header({ alg: 'none', kid: 'rsa-1' })}.${body}.`)).toBe('invalid token: algorithm none is not configured');
    expect(await reasonOf(config, `${header({ alg: 'HS256', kid: 'rsa-1' })}.${body}.c2ln`)).toBe('invalid token: algorithm HS256 is not configured');
    expect(await reasonOf(config, `${header({ alg: 'RS512', kid: 'rsa-1' })}.${body}.c2ln`)).toBe('invalid token: algorithm RS512 is not configured');
  });

  it('works beside a PEM key of the same alg: a served kid picks the fetched set, else the PEM key', async () => {
    served.keys = [await jwk(ec.publicKey, { kid: 'ec-1', alg: 'ES256' })];
    const dir = mkdtempSync(join(tmpdir(), 'tickhub-jwks-url-'));
    try {
      const pemFile = join(dir, 'pem.pub');
      writeFileSync(pemFile, await exportSPKI(stranger.publicKey));
      const config = loadConfig(env({ JWT_PUBLIC_KEY_FILE: pemFile, JWT_PUBLIC_KEY_ALG: 'ES256' }));
      const auth = createAuthenticator(config);
      expect((await auth.authenticate(await signed('ES256', ec.privateKey, 'ec-1'))).ok).toBe(true);
      expect((await auth.authenticate(await signed('ES256', stranger.privateKey, 'pem-kid'))).ok).toBe(true);
      const noKid = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'ES256' }).sign(stranger.privateKey);
      expect((await auth.authenticate(noKid)).ok).toBe(true);
      // A served kid is judged by the served key only.
      expect(await reasonOf(config, await signed('ES256', stranger.privateKey, 'ec-1'))).toBe('invalid token: JWSSignatureVerificationFailed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('picks up rotation: a new kid once the cooldown has passed, a removed key once the cache has aged', async () => {
    served.keys = [await jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256' })];
    const hub = await startHub(loadConfig(env({ JWT_JWKS_COOLDOWN_MS: '300', JWT_JWKS_CACHE_MS: '1500' })));
    try {
      const old = await signed('RS256', rsa.privateKey, 'rsa-1');
      const next = await signed('RS256', rsaNext.privateKey, 'rsa-2');
      expect((await upgrade(hub, old)).status).toBe(101);
      // Rotation on the server: the new kid is picked up on first sight after the cooldown.
      served.keys = [await jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256' }), await jwk(rsaNext.publicKey, { kid: 'rsa-2', alg: 'RS256' })];
      await sleep(350);
      const hits = served.hits;
      expect((await upgrade(hub, next)).status).toBe(101);
      expect(served.hits).toBe(hits + 1);
      // Known kids do not refetch within the cache's age.
      expect((await upgrade(hub, next)).status).toBe(101);
      expect((await upgrade(hub, old)).status).toBe(101);
      expect(served.hits).toBe(hits + 1);
      // The old key is retired: once the cached set is older than JWT_JWKS_CACHE_MS it is refetched.
      served.keys = [await jwk(rsaNext.publicKey, { kid: 'rsa-2', alg: 'RS256' })];
      await sleep(1600);
      const retired = await upgrade(hub, old);
      expect(retired.status).toBe(401);
      expect(retired.body).toContain('JWKSNoMatchingKey');
      expect((await upgrade(hub, next)).status).toBe(101);
    } finally {
      await hub.close();
    }
  });

  it('a JWKS that is down, slow or not a JWKS refuses with 401 and a clear reason; the hub keeps running', async () => {
    served.keys = [await jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256' })];
    const token = await signed('RS256', rsa.privateKey, 'rsa-1');
    // Nothing listens at this address (a port just freed).
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/jwks.json`;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const down = loadConfig(env({ JWT_JWKS_URL: deadUrl }));
    expect(await reasonOf(down, token)).toBe(`invalid token: JWKS at ${deadUrl} is unavailable (ECONNREFUSED)`);
    const hub = await startHub(down);
    try {
      const refused = await upgrade(hub, token);
      expect(refused.status).toBe(401);
      expect(refused.body).toContain(`JWKS at ${deadUrl} is unavailable (ECONNREFUSED)`);
      expect((await fetch(`${hub.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      await hub.close();
    }
    served.hang = true;
    try {
      expect(await reasonOf(loadConfig(env({ JWT_JWKS_TIMEOUT_MS: '200' })), token)).toBe(`invalid token: JWKS at ${url} did not answer in time`);
    } finally {
      served.hang = false;
    }
    const notJwks = `${url.replace('jwks.json', 'other.json')}`;
    served.keys = 'nope' as unknown as JWK[];
    expect(await reasonOf(loadConfig(env({ JWT_JWKS_URL: notJwks })), token)).toBe(`invalid token: JWKS at ${notJwks} is not a valid JWKS`);
    served.keys = [];
  });
});
