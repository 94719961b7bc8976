/**
 * createAuthenticator and the rights rules, on real tokens: HS256 JWTs signed with `hono/jwt`,
 * hand-built ones for what `sign` will not make (`alg: none`, bad claims). `node:crypto` is
 * wrapped with a pass-through spy only to see that API keys are compared in constant time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sign } from 'hono/jwt';
import { createHmac } from 'node:crypto';
import * as crypto from 'node:crypto';
import { createAuthenticator } from '../../../server/edge/credentials.ts';
import { canPublish, ROLES, type ApiKey, type Principal } from '../../../server/core/principal.ts';
import { testConfig, type HubConfig } from '../../../server/config.ts';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const OTHER_SECRET = 'another-secret-also-32-characters-long!!';
const PUBLISH_KEY = 'the-hub-publish-key';
const apiKeys: ApiKey[] = [
  { key: 'viewer-key-0123456789', role: 'viewer', publish: [], name: 'API_KEYS[1]' },
  { key: 'feeder-key-0123456789', role: 'publisher', publish: ['ticks.>', 'bars.*.1m'], name: 'API_KEYS[2]' },
  { key: 'admins-key-0123456789', role: 'admin', publish: [], name: 'API_KEYS[3]' },
];

const authFor = (overrides: Partial<HubConfig> = {}) => createAuthenticator(testConfig({ jwtSecret: SECRET, apiKeys, publishKey: PUBLISH_KEY, ...overrides }));
const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A token made by hand: any header, any payload, signed HS256 with `secret` (or not signed: ''). */
function handToken(header: unknown, payload: unknown, secret: string | null = SECRET): string {
  const body = `${b64url(header)}.${b64url(payload)}`;
  return `${body}.${secret === null ? '' : createHmac('sha256', secret).update(body).digest('base64url')}`;
}
const principalOf = async (auth: ReturnType<typeof authFor>, token: string | undefined): Promise<Principal> => {
  const result = await auth.authenticate(token);
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.principal;
};
const reasonOf = async (auth: ReturnType<typeof authFor>, token: string | undefined): Promise<string> => {
  const result = await auth.authenticate(token);
  if (result.ok) throw new Error(`accepted as ${JSON.stringify(result.principal)}`);
  return result.reason;
};

afterEach(() => {
  vi.mocked(crypto.timingSafeEqual).mockClear();
});

describe('createAuthenticator', () => {
  describe('without credentials', () => {
    it('#authenticate gives the anonymous role to a missing or empty token', async () => {
      for (const role of ['viewer', 'operator'] as const) {
        const auth = authFor({ anonymousRole: role });
        for (const token of [undefined, '']) {
          expect(await principalOf(auth, token)).toEqual({ role, publish: [], subject: 'anonymous' });
        }
      }
    });

    it("#authenticate refuses them under ANONYMOUS_ROLE=none, saying how to send credentials", async () => {
      const auth = authFor({ anonymousRole: 'none' });
      expect(await reasonOf(auth, undefined)).toMatch(/credentials required.*token=.*Bearer/);
      expect(await reasonOf(auth, '')).toMatch(/credentials required/);
      // Credentials still work.
      expect((await principalOf(auth, PUBLISH_KEY)).role).toBe('publisher');
    });
  });

  describe('API keys', () => {
    it('#authenticate maps each key to its role, publish patterns and name; no expiry', async () => {
      const auth = authFor();
      expect(await principalOf(auth, 'viewer-key-0123456789')).toEqual({ role: 'viewer', publish: [], subject: 'API_KEYS[1]' });
      expect(await principalOf(auth, 'feeder-key-0123456789')).toEqual({ role: 'publisher', publish: ['ticks.>', 'bars.*.1m'], subject: 'API_KEYS[2]' });
      const admin = await principalOf(auth, 'admins-key-0123456789');
      expect(admin).toEqual({ role: 'admin', publish: [], subject: 'API_KEYS[3]' });
      expect('expiresAt' in admin).toBe(false);
    });

    it('#authenticate refuses a near miss: one character off, a prefix, a longer string, other case', async () => {
      const auth = authFor();
      for (const token of ['viewer-key-0123456788', 'viewer-key-012345678', 'viewer-key-01234567890', 'VIEWER-key-0123456789', ' viewer-key-0123456789']) {
        expect(await reasonOf(auth, token)).toBe('invalid token');
      }
    });

    it('#authenticate compares keys of the right length in constant time (timingSafeEqual)', async () => {
      const auth = authFor({ publishKey: null, jwtSecret: null });
      const spy = vi.mocked(crypto.timingSafeEqual);
      // Same length as every configured key, matching none: each key is compared in constant time.
      await auth.authenticate('xxxxxx-key-0123456789');
      expect(spy).toHaveBeenCalledTimes(3);
      spy.mockClear();
      // Another length never reaches the comparison (lengths are not secret).
      await auth.authenticate('short');
      expect(spy).not.toHaveBeenCalled();
      // A hit stops at its key.
      await auth.authenticate('feeder-key-0123456789');
      expect(spy).toHaveBeenCalledTimes(2);
    });

    it('#authenticate compares bytes: a token of the key\'s string length but not its byte length is refused, not thrown', async () => {
      const auth = authFor({ apiKeys: [{ key: 'caf\u00e9-key-0123456789', role: 'viewer', publish: [], name: 'API_KEYS[1]' }] });
      expect((await principalOf(auth, 'caf\u00e9-key-0123456789')).subject).toBe('API_KEYS[1]');
      expect(await reasonOf(auth, 'cafx-key-0123456789')).toBe('invalid token'); // 19 characters, 19 bytes (the key: 20)
      expect(await reasonOf(auth, 'cafe\u0301-key-012345678')).toBe('invalid token'); // 20 bytes too, compared and refused
    });

    it('#authenticate makes HUB_PUBLISH_KEY a publisher of every topic', async () => {
      const p = await principalOf(authFor(), PUBLISH_KEY);
      expect(p).toEqual({ role: 'publisher', publish: ['>'], subject: 'HUB_PUBLISH_KEY' });
      expect(canPublish(p, 'any.topic.at.all')).toBe(true);
      expect(await reasonOf(authFor({ publishKey: null }), PUBLISH_KEY)).toBe('invalid token');
    });
  });

  describe('JWT (HS256)', () => {
    it('#authenticate accepts a valid token: role, publish patterns, sub, expiresAt from exp', async () => {
      const exp = nowSeconds() + 600;
      const token = await sign({ role: 'publisher', publish: ['ticks.>'], sub: 'feeder-7', exp }, SECRET);
      expect(await principalOf(authFor(), token)).toEqual({ role: 'publisher', publish: ['ticks.>'], subject: 'feeder-7', expiresAt: exp * 1000 });
    });

    it('#authenticate defaults publish to none and the subject to `jwt`; no exp means no expiresAt', async () => {
      const token = await sign({ role: 'viewer', sub: 42 }, SECRET);
      const p = await principalOf(authFor(), token);
      expect(p).toEqual({ role: 'viewer', publish: [], subject: 'jwt' });
      expect('expiresAt' in p).toBe(false);
    });

    it('#authenticate refuses an expired token', async () => {
      const token = await sign({ role: 'viewer', exp: nowSeconds() - 5 }, SECRET);
      expect(await reasonOf(authFor(), token)).toBe('invalid token: JwtTokenExpired');
      // exp equal to now is already expired.
      const edge = await sign({ role: 'viewer', exp: nowSeconds() }, SECRET);
      expect(await reasonOf(authFor(), edge)).toBe('invalid token: JwtTokenExpired');
    });

    it('#authenticate refuses a token not valid yet (nbf, iat in the future) and takes one whose nbf has passed', async () => {
      const exp = nowSeconds() + 600;
      expect(await reasonOf(authFor(), await sign({ role: 'viewer', exp, nbf: nowSeconds() + 60 }, SECRET))).toBe('invalid token: JwtTokenNotBefore');
      expect(await reasonOf(authFor(), await sign({ role: 'viewer', exp, iat: nowSeconds() + 60 }, SECRET))).toBe('invalid token: JwtTokenIssuedAt');
      expect((await principalOf(authFor(), await sign({ role: 'viewer', exp, nbf: nowSeconds() - 1, iat: nowSeconds() - 1 }, SECRET))).role).toBe('viewer');
    });

    it('#authenticate refuses a token signed with another secret, or tampered with', async () => {
      const exp = nowSeconds() + 600;
      expect(await reasonOf(authFor(), await sign({ role: 'admin', exp }, OTHER_SECRET))).toBe('invalid token: JwtTokenSignatureMismatched');
      // A viewer token with its payload swapped for an admin one keeps the viewer's signature.
      const viewer = await sign({ role: 'viewer', exp }, SECRET);
      const [header, , signature] = viewer.split('.');
      expect(await reasonOf(authFor(), `${header}.${b64url({ role: 'admin', exp })}.${signature}`)).toBe('invalid token: JwtTokenSignatureMismatched');
    });

    it('#authenticate refuses `alg: none`, signed or not', async () => {
      const payload = { role: 'admin', exp: nowSeconds() + 600 };
      for (const alg of ['none', 'None', 'NONE']) {
        expect(await reasonOf(authFor(), handToken({ alg, typ: 'JWT' }, payload, null))).toMatch(/^invalid token: Jwt/);
        expect(await reasonOf(authFor(), handToken({ alg, typ: 'JWT' }, payload))).toMatch(/^invalid token: Jwt/);
      }
      expect(await reasonOf(authFor(), handToken({ typ: 'JWT' }, payload))).toMatch(/^invalid token: Jwt/); // no alg at all
    });

    it('#authenticate refuses every algorithm but HS256, even with the right secret', async () => {
      const payload = { role: 'admin', exp: nowSeconds() + 600 };
      for (const alg of ['HS384', 'HS512'] as const) {
        expect(await reasonOf(authFor(), await sign(payload, SECRET, alg))).toBe('invalid token: JwtAlgorithmMismatch');
      }
      // An asymmetric alg in the header with an HMAC signature (the classic key-confusion attempt).
      expect(await reasonOf(authFor(), handToken({ alg: 'RS256', typ: 'JWT' }, payload))).toBe('invalid token: JwtAlgorithmMismatch');
      // The same claims as HS256 are fine, so it was the algorithm that was refused.
      expect((await principalOf(authFor(), handToken({ alg: 'HS256', typ: 'JWT' }, payload))).role).toBe('admin');
    });

    it('#authenticate refuses malformed tokens without throwing', async () => {
      const exp = nowSeconds() + 600;
      const good = await sign({ role: 'viewer', exp }, SECRET);
      const [h, p] = good.split('.');
      for (const token of [`${h}.${p}.`, `${h}.!!!.${good.split('.')[2]}`, 'a.b.c', '..', `${h}.${b64url('null')}.x`, handToken({ alg: 'HS256', typ: 'JWT' }, 'null'), handToken({ alg: 'HS256', typ: 'JWT' }, 7)]) {
        expect(await reasonOf(authFor(), token)).toMatch(/^invalid token/);
      }
      // Not three parts: not a JWT, and not a key either.
      expect(await reasonOf(authFor(), `${h}.${p}`)).toBe('invalid token');
    });

    it('#authenticate refuses a missing or unknown role claim', async () => {
      const exp = nowSeconds() + 600;
      for (const role of [undefined, 'root', 'Admin', 3, ['admin'], '']) {
        expect(await reasonOf(authFor(), await sign({ role, exp } as never, SECRET))).toBe(`invalid token: claim 'role' must be one of ${ROLES.join(', ')}`);
      }
    });

    it('#authenticate refuses a publish claim that is not an array of topic patterns', async () => {
      const exp = nowSeconds() + 600;
      for (const publish of ['ticks.>', ['ticks.>', 5], ['ticks..x'], ['>.ticks'], [''], { 0: 'ticks.>' }, 'none', null]) {
        expect(await reasonOf(authFor(), await sign({ role: 'publisher', publish, exp } as never, SECRET))).toBe("invalid token: claim 'publish' must be an array of topic patterns");
      }
      expect((await principalOf(authFor(), await sign({ role: 'publisher', publish: [], exp }, SECRET))).publish).toEqual([]);
    });

    it('#authenticate refuses an exp that is not a number', async () => {
      // hono/jwt checks exp first; either way the token is refused.
      const reason = await reasonOf(authFor(), await sign({ role: 'viewer', exp: String(nowSeconds() + 600) } as never, SECRET));
      expect(reason).toMatch(/^invalid token/);
    });

    it('#authenticate under JWT_REQUIRE_EXP=elevated wants exp from publishers and admins only', async () => {
      const auth = authFor({ jwtRequireExp: 'elevated' });
      for (const role of ['viewer', 'operator'] as const) expect((await principalOf(auth, await sign({ role }, SECRET))).role).toBe(role);
      for (const role of ['publisher', 'admin'] as const) {
        expect(await reasonOf(auth, await sign({ role }, SECRET))).toBe(`invalid token: claim 'exp' is required for role ${role} (JWT_REQUIRE_EXP=elevated)`);
        expect((await principalOf(auth, await sign({ role, exp: nowSeconds() + 60 }, SECRET))).role).toBe(role);
      }
    });

    it('#authenticate under JWT_REQUIRE_EXP=all wants exp from every role', async () => {
      const auth = authFor({ jwtRequireExp: 'all' });
      for (const role of ROLES) {
        expect(await reasonOf(auth, await sign({ role }, SECRET))).toBe(`invalid token: claim 'exp' is required for role ${role} (JWT_REQUIRE_EXP=all)`);
        expect((await principalOf(auth, await sign({ role, exp: nowSeconds() + 60 }, SECRET))).expiresAt).toBeGreaterThan(Date.now());
      }
    });

    it('#authenticate under JWT_REQUIRE_EXP=none takes tokens without exp, and still refuses expired ones', async () => {
      const auth = authFor({ jwtRequireExp: 'none' });
      for (const role of ROLES) expect(await principalOf(auth, await sign({ role }, SECRET))).toEqual({ role, publish: [], subject: 'jwt' });
      expect(await reasonOf(auth, await sign({ role: 'admin', exp: nowSeconds() - 1 }, SECRET))).toBe('invalid token: JwtTokenExpired');
    });

    it('#authenticate without JWT_SECRET treats a JWT as an unknown key', async () => {
      const token = await sign({ role: 'admin', exp: nowSeconds() + 60 }, SECRET);
      expect(await reasonOf(authFor({ jwtSecret: null }), token)).toBe('invalid token');
    });
  });
});
