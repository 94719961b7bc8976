/**
 * Credentials to principals: JWTs (HS256 with JWT_SECRET; RS256/ES256 with a configured public
 * key, JWKS file or JWKS URL, see jwt-keys.ts; the token's `alg` header picks the verifier, an algorithm not
 * configured is refused; `exp` enforced per JWT_REQUIRE_EXP) or static API keys from config,
 * compared in constant time; callers without credentials get the configured anonymous role.
 */
import { timingSafeEqual } from 'node:crypto';
import { verify } from 'hono/jwt';
import type { HubConfig, JwtRequireExp } from '../config.ts';
import { isValidPattern } from '../../protocol/topics.ts';
import { createPublicKeyVerifier, headerAlg } from './jwt-keys.ts';
import { ROLES, type ApiKey, type AuthResult, type Authenticator, type Principal, type Role } from '../core/principal.ts';

/**
 * @example
 * const auth = createAuthenticator(config);
 * const result = await auth.authenticate(token); // token undefined = anonymous
 */
export function createAuthenticator(config: HubConfig): Authenticator {
  const keys: ApiKey[] = [...config.apiKeys];
  if (config.publishKey) keys.push({ key: config.publishKey, role: 'publisher', publish: ['>'], name: 'HUB_PUBLISH_KEY' });
  const publicKeys = config.jwtPublicKey || config.jwtJwks || config.jwtJwksUrl ? createPublicKeyVerifier(config.jwtPublicKey, config.jwtJwks, config.jwtJwksUrl) : null;
  // Principals are never mutated, so every anonymous caller, and every caller of one API key,
  // shares one result (an idle tap does not carry its own copy).
  const anonymous: AuthResult =
    config.anonymousRole === 'none'
      ? { ok: false, reason: 'credentials required (?token=, cookie tickhub_token or Authorization: Bearer)' }
      : { ok: true, principal: { role: config.anonymousRole, publish: [], subject: 'anonymous' } };
  const keyResults: AuthResult[] = keys.map((k) => ({ ok: true, principal: { role: k.role, publish: k.publish, subject: k.name } }));

  function authenticateNow(token: string | undefined): AuthResult | null {
    if (token === undefined || token === '') return anonymous;
    for (let i = 0; i < keys.length; i++) {
      if (safeEqual(token, keys[i].key)) return keyResults[i];
    }
    if (token.split('.').length !== 3) return { ok: false, reason: 'invalid token' };
    return null;
  }

  async function authenticate(token: string | undefined): Promise<AuthResult> {
    const known = authenticateNow(token);
    if (known !== null) return known;
    return verifyJwt(token as string); // authenticateNow answers everything else, no token included
  }

  async function verifyJwt(token: string): Promise<AuthResult> {
    if (publicKeys?.handles(headerAlg(token))) {
      const verified = await publicKeys.verify(token);
      return verified.ok ? principalOf(verified.claims, config.jwtRequireExp) : verified;
    }
    // Everything else is HS256's to judge: hono/jwt refuses any other alg (none, HS384, RS256 as HMAC).
    if (config.jwtSecret) return verifyHs256(token, config.jwtSecret, config.jwtRequireExp);
    if (publicKeys) return { ok: false, reason: `invalid token: algorithm ${headerAlg(token) ?? '(none)'} is not configured` };
    return { ok: false, reason: 'invalid token' };
  }

  return { authenticate, authenticateNow };
}

/** Roles whose JWTs must carry `exp` under JWT_REQUIRE_EXP=elevated: a leaked one must not work forever. */
const ELEVATED: readonly Role[] = ['publisher', 'admin'];

async function verifyHs256(token: string, secret: string, requireExp: JwtRequireExp): Promise<AuthResult> {
  let claims: Record<string, unknown>;
  try {
    claims = (await verify(token, secret, 'HS256')) as Record<string, unknown>;
  } catch (err) {
    return { ok: false, reason: `invalid token: ${(err as Error).name}` };
  }
  return principalOf(claims, requireExp);
}

/** JWT claims, whatever signed them: `role` (one of ROLES), optional `publish` (array of patterns), `sub`, `exp` (required per JWT_REQUIRE_EXP). */
function principalOf(claims: Record<string, unknown>, requireExp: JwtRequireExp): AuthResult {
  const role = claims.role;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) return { ok: false, reason: `invalid token: claim 'role' must be one of ${ROLES.join(', ')}` };
  const publish = claims.publish === undefined ? [] : claims.publish; // null is not "none": a malformed claim is refused
  if (!Array.isArray(publish) || !publish.every(isValidPattern)) return { ok: false, reason: "invalid token: claim 'publish' must be an array of topic patterns" };
  const exp = claims.exp;
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) return { ok: false, reason: "invalid token: claim 'exp' must be a number (Unix seconds)" };
  if (exp === undefined && (requireExp === 'all' || (requireExp === 'elevated' && ELEVATED.includes(role as Role)))) {
    return { ok: false, reason: `invalid token: claim 'exp' is required for role ${role} (JWT_REQUIRE_EXP=${requireExp})` };
  }
  const principal: Principal = { role: role as Role, publish: publish as string[], subject: typeof claims.sub === 'string' ? claims.sub : 'jwt' };
  if (exp !== undefined) principal.expiresAt = exp * 1000;
  return { ok: true, principal };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
