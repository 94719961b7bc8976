/**
 * RS256/ES256 JWTs from a configured public key: PEM SPKI files (alg pinned by
 * JWT_PUBLIC_KEY_ALG) and local JWKS files (alg pinned per key, chosen by kid). Keys are made
 * in the test with jose and written to a temp dir; tokens are signed with jose's SignJWT, the
 * refused ones built by hand only where jose will not make them (`alg: none`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { sign } from 'hono/jwt';
import { loadConfig, type HubConfig } from '../../../server/config.ts';
import { createAuthenticator } from '../../../server/edge/credentials.ts';
import { startHub } from '../../../server/server.ts';
import { upgradeStatus } from '../../support/ws-client.ts';
import { configError as loadError } from '../../support/config-error.ts';

const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
let dir: string;
type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };
let rsa: Pair, rsaOther: Pair, ec: Pair, ecOther: Pair;

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const jwk = async (key: CryptoKey, extra: Partial<JWK>): Promise<JWK> => ({ ...(await exportJWK(key)), ...extra });
const nowSeconds = () => Math.floor(Date.now() / 1000);
const claims = { role: 'publisher', publish: ['ticks.>'], sub: 'feeder' };
function signed(alg: 'RS256' | 'ES256', key: CryptoKey, kid?: string, payload: Record<string, unknown> = claims, exp: number | null = nowSeconds() + 600) {
  const jwt = new SignJWT({ ...payload, ...(exp === null ? {} : { exp }) }).setProtectedHeader({ alg, typ: 'JWT', ...(kid && { kid }) });
  return jwt.sign(key);
}
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const env = (extra: Record<string, string>) => ({ PORT: '0', LOG_LEVEL: 'silent', ...extra });
const authOf = (config: HubConfig) => createAuthenticator(config);
async function reasonOf(config: HubConfig, token: string): Promise<string> {
  const r = await authOf(config).authenticate(token);
  if (r.ok) throw new Error(`accepted as ${JSON.stringify(r.principal)}`);
  return r.reason;
}
async function principalOf(config: HubConfig, token: string) {
  const r = await authOf(config).authenticate(token);
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.principal;
}
const configError = (extra: Record<string, string>): string => loadError(env(extra));

let rsaPem: string, ecPem: string, jwks: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickhub-jwt-'));
  [rsa, rsaOther, ec, ecOther] = await Promise.all([
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
  ]);
  rsaPem = file('rsa.pub.pem', await exportSPKI(rsa.publicKey));
  ecPem = file('ec.pub.pem', await exportSPKI(ec.publicKey));
  jwks = file('jwks.json', JSON.stringify({ keys: [await jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256', use: 'sig' }), await jwk(ec.publicKey, { kid: 'ec-1', alg: 'ES256' })] }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('JWT public keys', () => {
  describe('JWT_PUBLIC_KEY_FILE', () => {
    it('verifies RS256 tokens from a PEM key, with the same claims as HS256', async () => {
      const config = loadConfig(env({ JWT_PUBLIC_KEY_FILE: rsaPem, JWT_PUBLIC_KEY_ALG: 'RS256' }));
      const exp = nowSeconds() + 600;
      expect(await principalOf(config, await signed('RS256', rsa.privateKey, undefined, claims, exp))).toEqual({ role: 'publisher', publish: ['ticks.>'], subject: 'feeder', expiresAt: exp * 1000 });
    });

    it('verifies ES256 tokens from a PEM key', async () => {
      const config = loadConfig(env({ JWT_PUBLIC_KEY_FILE: ecPem, JWT_PUBLIC_KEY_ALG: 'ES256' }));
      expect((await principalOf(config, await signed('ES256', ec.privateKey))).role).toBe('publisher');
    });

    it('refuses a wrong key, a wrong alg, alg none, and HS256 when no secret is set', async () => {
      const config = loadConfig(env({ JWT_PUBLIC_KEY_FILE: rsaPem, JWT_PUBLIC_KEY_ALG: 'RS256' }));
      expect(await reasonOf(config, await signed('RS256', rsaOther.privateKey))).toBe('invalid token: JWSSignatureVerificationFailed');
      expect(await reasonOf(config, await signed('ES256', ec.privateKey))).toBe('invalid token: algorithm ES256 is not configured');
      const exp = nowSeconds() + 600;
      for (const alg of ['none', 'None']) {
        expect(await reasonOf(config, `${b64url({ alg, typ: 'JWT' })}.${b64url({ ...claims, exp })}.`)).toBe(`invalid token: algorithm ${alg} is not configured`);
      }
      expect(await reasonOf(config, await sign({ ...claims, exp }, SECRET, 'HS256'))).toBe('invalid token: algorithm HS256 is not configured');
      // An RS256 header over an HMAC made with the public key as the secret (key confusion).
      const body = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ ...claims, exp })}`;
      expect(await reasonOf(config, `${body}.${createHmac('sha256', readFileSync(rsaPem)).update(body).digest('base64url')}`)).toBe('invalid token: JWSSignatureVerificationFailed');
    });

    it('applies exp and JWT_REQUIRE_EXP as for HS256', async () => {
      const config = loadConfig(env({ JWT_PUBLIC_KEY_FILE: ecPem, JWT_PUBLIC_KEY_ALG: 'ES256' }));
      expect(await reasonOf(config, await signed('ES256', ec.privateKey, undefined, claims, nowSeconds() - 10))).toBe('invalid token: JWTExpired');
      expect(await reasonOf(config, await signed('ES256', ec.privateKey, undefined, claims, null))).toBe("invalid token: claim 'exp' is required for role publisher (JWT_REQUIRE_EXP=elevated)");
      expect(await reasonOf(config, await signed('ES256', ec.privateKey, undefined, { role: 'root' }))).toMatch(/claim 'role' must be one of/);
      expect((await principalOf(config, await signed('ES256', ec.privateKey, undefined, { role: 'viewer' }, null))).role).toBe('viewer');
    });

    it('keeps HS256 working beside it, and each verifier refuses the other algorithms', async () => {
      const config = loadConfig(env({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY_FILE: rsaPem, JWT_PUBLIC_KEY_ALG: 'RS256' }));
      const exp = nowSeconds() + 600;
      expect((await principalOf(config, await sign({ role: 'admin', exp }, SECRET, 'HS256'))).role).toBe('admin');
      expect((await principalOf(config, await signed('RS256', rsa.privateKey))).role).toBe('publisher');
      expect(await reasonOf(config, await signed('ES256', ec.privateKey))).toBe('invalid token: JwtAlgorithmMismatch');
      expect(await reasonOf(config, `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ role: 'admin', exp })}.`)).toMatch(/^invalid token: Jwt/);
    });

    it('is refused at config load when missing, unreadable, not SPKI, or not fitting the alg, naming the variable', async () => {
      expect(configError({ JWT_PUBLIC_KEY_FILE: rsaPem })).toMatch(/JWT_PUBLIC_KEY_ALG: required with JWT_PUBLIC_KEY_FILE/);
      expect(configError({ JWT_PUBLIC_KEY_ALG: 'RS256' })).toMatch(/JWT_PUBLIC_KEY_ALG: set without JWT_PUBLIC_KEY_FILE/);
      expect(configError({ JWT_PUBLIC_KEY_FILE: rsaPem, JWT_PUBLIC_KEY_ALG: 'HS256' })).toMatch(/JWT_PUBLIC_KEY_ALG: /);
      expect(configError({ JWT_PUBLIC_KEY_FILE: join(dir, 'missing.pem'), JWT_PUBLIC_KEY_ALG: 'RS256' })).toMatch(/JWT_PUBLIC_KEY_FILE: cannot read .*missing\.pem: ENOENT/);
      expect(configError({ JWT_PUBLIC_KEY_FILE: file('junk.pem', 'hello'), JWT_PUBLIC_KEY_ALG: 'RS256' })).toMatch(/JWT_PUBLIC_KEY_FILE: .* is not a PEM SPKI public key/);
      const priv = file('rsa.key.pem', await exportPKCS8(rsa.privateKey));
      expect(configError({ JWT_PUBLIC_KEY_FILE: priv, JWT_PUBLIC_KEY_ALG: 'RS256' })).toMatch(/JWT_PUBLIC_KEY_FILE: .*private keys and certificates are refused/);
      const broken = file('broken.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
      expect(configError({ JWT_PUBLIC_KEY_FILE: broken, JWT_PUBLIC_KEY_ALG: 'RS256' })).toMatch(/JWT_PUBLIC_KEY_FILE: .*cannot parse the public key/);
      expect(configError({ JWT_PUBLIC_KEY_FILE: rsaPem, JWT_PUBLIC_KEY_ALG: 'ES256' })).toMatch(/JWT_PUBLIC_KEY_FILE: .*ES256 needs an EC P-256 key, this is rsa/);
      expect(configError({ JWT_PUBLIC_KEY_FILE: ecPem, JWT_PUBLIC_KEY_ALG: 'RS256' })).toMatch(/JWT_PUBLIC_KEY_FILE: .*RS256 needs an RSA key, this is ec/);
    });
  });

  describe('JWT_JWKS_FILE', () => {
    it('verifies RS256 and ES256 tokens, choosing the key by kid', async () => {
      const config = loadConfig(env({ JWT_JWKS_FILE: jwks }));
      expect((await principalOf(config, await signed('RS256', rsa.privateKey, 'rsa-1'))).subject).toBe('feeder');
      expect((await principalOf(config, await signed('ES256', ec.privateKey, 'ec-1'))).role).toBe('publisher');
    });

    it('refuses an unknown kid, a key of another alg than its kid pins, a wrong key, alg none and HS256', async () => {
      const config = loadConfig(env({ JWT_JWKS_FILE: jwks }));
      expect(await reasonOf(config, await signed('RS256', rsa.privateKey, 'rsa-9'))).toBe('invalid token: JWKSNoMatchingKey');
      expect(await reasonOf(config, await signed('ES256', ec.privateKey, 'rsa-1'))).toBe('invalid token: JWKSNoMatchingKey');
      expect(await reasonOf(config, await signed('ES256', ecOther.privateKey, 'ec-1'))).toBe('invalid token: JWSSignatureVerificationFailed');
      expect(await reasonOf(config, await signed('RS256', rsaOther.privateKey, 'rsa-1'))).toBe('invalid token: JWSSignatureVerificationFailed');
      expect(await reasonOf(config, `${b64url({ alg: 'none', kid: 'rsa-1' })}.${b64url({ ...claims, exp: nowSeconds() + 60 })}.`)).toBe('invalid token: algorithm none is not configured');
      expect(await reasonOf(config, await sign({ role: 'admin', exp: nowSeconds() + 60 }, SECRET, 'HS256'))).toBe('invalid token: algorithm HS256 is not configured');
    });

    it('works beside a PEM key of the same alg: the kid picks the JWKS, no kid the PEM', async () => {
      const otherPem = file('rsa-other.pub.pem', await exportSPKI(rsaOther.publicKey));
      const config = loadConfig(env({ JWT_JWKS_FILE: jwks, JWT_PUBLIC_KEY_FILE: otherPem, JWT_PUBLIC_KEY_ALG: 'RS256' }));
      expect((await principalOf(config, await signed('RS256', rsa.privateKey, 'rsa-1'))).role).toBe('publisher');
      expect((await principalOf(config, await signed('RS256', rsaOther.privateKey))).role).toBe('publisher');
      expect(await reasonOf(config, await signed('RS256', rsa.privateKey))).toBe('invalid token: JWSSignatureVerificationFailed');
    });

    it('is refused at config load: keys without alg (naming the kid), without kid, private, bad JSON', async () => {
      const rsaJwk = await jwk(rsa.publicKey, {});
      const jwksOf = (name: string, keys: unknown) => file(name, JSON.stringify({ keys }));
      expect(configError({ JWT_JWKS_FILE: jwksOf('no-alg.json', [{ ...rsaJwk, kid: 'k-noalg' }]) })).toMatch(/JWT_JWKS_FILE: .*key kid 'k-noalg' has no alg; each key must pin its algorithm/);
      expect(configError({ JWT_JWKS_FILE: jwksOf('no-kid.json', [{ ...rsaJwk, alg: 'RS256' }]) })).toMatch(/JWT_JWKS_FILE: .*key 1 has no kid/);
      expect(configError({ JWT_JWKS_FILE: jwksOf('hs.json', [{ ...rsaJwk, kid: 'k', alg: 'HS256' }]) })).toMatch(/JWT_JWKS_FILE: .*key kid 'k' has alg 'HS256'; supported: RS256, ES256/);
      expect(configError({ JWT_JWKS_FILE: jwksOf('mismatch.json', [{ ...rsaJwk, kid: 'k', alg: 'ES256' }]) })).toMatch(/JWT_JWKS_FILE: .*key kid 'k': ES256 needs an EC P-256 key/);
      expect(configError({ JWT_JWKS_FILE: jwksOf('dup.json', [{ ...rsaJwk, kid: 'k', alg: 'RS256' }, { ...rsaJwk, kid: 'k', alg: 'RS256' }]) })).toMatch(/kid 'k' appears twice/);
      expect(configError({ JWT_JWKS_FILE: jwksOf('priv.json', [await jwk(rsa.privateKey, { kid: 'p', alg: 'RS256' })]) })).toMatch(/JWT_JWKS_FILE: .*key kid 'p' holds private or secret key material/);
      expect(configError({ JWT_JWKS_FILE: jwksOf('empty.json', []) })).toMatch(/JWT_JWKS_FILE: .*must be a JWKS/);
      expect(configError({ JWT_JWKS_FILE: file('bad.json', '{"keys":') })).toMatch(/JWT_JWKS_FILE: .*is not JSON/);
      expect(configError({ JWT_JWKS_FILE: join(dir, 'none.json') })).toMatch(/JWT_JWKS_FILE: cannot read .*ENOENT/);
    });
  });

  it('a real hub admits an ES256 token from the JWKS and refuses a forged one', async () => {
    const hub = await startHub(loadConfig(env({ JWT_JWKS_FILE: jwks })));
    try {
      expect(await upgradeStatus(`${hub.wsUrl}?token=${await signed('ES256', ec.privateKey, 'ec-1')}`, 'hub.v1')).toBe(101);
      expect(await upgradeStatus(`${hub.wsUrl}?token=${await signed('ES256', ecOther.privateKey, 'ec-1')}`, 'hub.v1')).toBe(401);
    } finally {
      await hub.close();
    }
  });
});
