/**
 * Public keys for RS256/ES256 JWTs: a PEM SPKI key file with its algorithm pinned
 * (JWT_PUBLIC_KEY_FILE + JWT_PUBLIC_KEY_ALG) and a local JWKS file whose keys each pin their own
 * `alg` (JWT_JWKS_FILE), both loaded once at start (the loaders read and check the files
 * synchronously so a bad one stops config loading with the variable named), or a JWKS fetched
 * from a URL (JWT_JWKS_URL) by jose's `createRemoteJWKSet`, cached and refetched on an unknown
 * `kid` after a cooldown. Verification is done by `jose`.
 */
import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, importSPKI, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

/** The asymmetric algorithms the hub verifies; HS256 (JWT_SECRET) is handled beside them. */
export const PUBLIC_KEY_ALGS = ['RS256', 'ES256'] as const;
export type PublicKeyAlg = (typeof PUBLIC_KEY_ALGS)[number];

export interface PublicKeyConfig {
  /** The file it came from, for messages. */
  file: string;
  pem: string;
  alg: PublicKeyAlg;
}

export interface JwksConfig {
  file: string;
  jwks: JSONWebKeySet;
}

/** A JWKS served over http(s) (JWT_JWKS_URL); its keys are not known until fetched. */
export interface JwksUrlConfig {
  url: string;
  /** Least time between two fetches (jose's cooldownDuration): an unknown kid refetches only after it. */
  cooldownMs: number;
  /** How long a fetched set is used before it is refetched even if every kid is known (jose's cacheMaxAge). */
  cacheMaxAgeMs: number;
  /** How long one fetch may take (jose's timeoutDuration). */
  timeoutMs: number;
}

/**
 * Check JWT_JWKS_URL: an absolute http or https URL without credentials; throws naming the problem.
 * @example
 * parseJwksUrl('https://idp.example.com/.well-known/jwks.json');
 */
export function parseJwksUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`'${value}' is not a URL; expected http(s)://host[:port]/path`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must be an http or https URL, not ${url.protocol}`);
  if (url.username || url.password) throw new Error('must not carry credentials (user:password@)');
  return url.href;
}

/** What each algorithm needs of a key: its type and, for EC, its curve. */
function keyMismatch(key: ReturnType<typeof createPublicKey>, alg: PublicKeyAlg): string | null {
  if (alg === 'RS256') {
    if (key.asymmetricKeyType !== 'rsa') return `RS256 needs an RSA key, this is ${key.asymmetricKeyType}`;
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits < 2048 ? `RS256 needs an RSA key of 2048 bits or more, this one has ${bits}` : null;
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    return `ES256 needs an EC P-256 key, this is ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}`;
  }
  return null;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Read a PEM SPKI public key (`-----BEGIN PUBLIC KEY-----`) for `alg`; throws naming the problem.
 * @example
 * const key = loadPublicKeyFile('/etc/tickhub/jwt.pub.pem', 'ES256');
 */
export function loadPublicKeyFile(file: string, alg: PublicKeyAlg): PublicKeyConfig {
  const pem = readText(file);
  if (!/-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----/.test(pem)) {
    throw new Error(`${file} is not a PEM SPKI public key (-----BEGIN PUBLIC KEY-----); private keys and certificates are refused`);
  }
  let key;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`${file}: cannot parse the public key (${(err as Error).message})`);
  }
  const mismatch = keyMismatch(key, alg);
  if (mismatch) throw new Error(`${file}: ${mismatch}`);
  return { file, pem, alg };
}

/**
 * Read a JWKS file (`{"keys":[...]}`): every key needs a unique `kid` and an `alg` of RS256 or
 * ES256 that fits it; private keys are refused. Throws naming the file and the key's kid.
 * @example
 * const jwks = loadJwksFile('/etc/tickhub/jwks.json');
 */
export function loadJwksFile(file: string): JwksConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(readText(file));
  } catch (err) {
    throw new Error(err instanceof SyntaxError ? `${file} is not JSON: ${err.message}` : (err as Error).message);
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${file} must be a JWKS: {"keys":[...]} with at least one key`);
  const kids = new Set<string>();
  for (const [i, jwk] of keys.entries()) {
    const where = typeof jwk?.kid === 'string' && jwk.kid ? `key kid '${jwk.kid}'` : `key ${i + 1}`;
    if (typeof jwk !== 'object' || jwk === null || typeof jwk.kid !== 'string' || jwk.kid === '') throw new Error(`${file}: ${where} has no kid (tokens select keys by kid)`);
    if (kids.has(jwk.kid)) throw new Error(`${file}: kid '${jwk.kid}' appears twice`);
    kids.add(jwk.kid);
    if (jwk.alg === undefined) throw new Error(`${file}: ${where} has no alg; each key must pin its algorithm (${PUBLIC_KEY_ALGS.join(' or ')})`);
    if (!(PUBLIC_KEY_ALGS as readonly string[]).includes(jwk.alg)) throw new Error(`${file}: ${where} has alg '${String(jwk.alg)}'; supported: ${PUBLIC_KEY_ALGS.join(', ')}`);
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new Error(`${file}: ${where} holds private or secret key material; publish only public keys`);
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`${file}: ${where} has use '${String(jwk.use)}'; it must be 'sig' or absent`);
    let key;
    try {
      key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
    } catch (err) {
      throw new Error(`${file}: ${where} is not a valid public key (${(err as Error).message})`);
    }
    const mismatch = keyMismatch(key, jwk.alg as PublicKeyAlg);
    if (mismatch) throw new Error(`${file}: ${where}: ${mismatch}`);
  }
  return { file, jwks: { keys } as JSONWebKeySet };
}

/** Verified claims, or a short reason the token was refused. */
export type VerifyOutcome = { ok: true; claims: JWTPayload } | { ok: false; reason: string };

/** Verifies asymmetric JWTs; `handles(alg)` says whether a token with that header alg is its to judge. */
export interface PublicKeyVerifier {
  handles(alg: string | undefined): boolean;
  verify(token: string): Promise<VerifyOutcome>;
}

/** Why a remote JWKS could not be used, for the 401's reason (the URL is the operator's, not a secret). */
function remoteFailure(err: Error, url: string): string | null {
  switch (err.name) {
    case 'JWKSTimeout':
      return `JWKS at ${url} did not answer in time`;
    case 'JWKSInvalid':
      return `JWKS at ${url} is not a valid JWKS`;
    case 'JOSEError':
      return `JWKS at ${url} is unavailable (${err.message})`;
    case 'TypeError': {
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      return `JWKS at ${url} is unavailable (${cause?.code ?? cause?.message ?? err.message})`;
    }
    default:
      return null;
  }
}

/**
 * One verifier over the configured PEM key, JWKS file and JWKS URL (any may be null; config
 * refuses the file and the URL together). The token's header `alg` picks the key set,
 * `jwtVerify` pins the algorithms of that set, and a JWKS key is chosen by `kid` (and must pin
 * the same alg). A remote key without `alg` is used only for RS256/ES256 (jose checks its type
 * against the header); a fetch that fails refuses the token with the reason, never throws.
 * @example
 * const v = createPublicKeyVerifier(config.jwtPublicKey, config.jwtJwks, config.jwtJwksUrl);
 * if (v.handles(decodeProtectedHeader(token).alg)) await v.verify(token);
 */
export function createPublicKeyVerifier(pem: PublicKeyConfig | null, jwks: JwksConfig | null, remote: JwksUrlConfig | null = null): PublicKeyVerifier {
  const pemKey = pem ? importSPKI(pem.pem, pem.alg) : null;
  pemKey?.catch(() => {}); // checked at load; a failure here surfaces on verify
  const jwksAlgs = new Set<string>(remote ? PUBLIC_KEY_ALGS : (jwks?.jwks.keys ?? []).map((k) => k.alg as string));
  const jwksKids = new Set((jwks?.jwks.keys ?? []).map((k) => k.kid as string));
  const keySet = jwks ? createLocalJWKSet(jwks.jwks) : null;
  const remoteSet = remote
    ? createRemoteJWKSet(new URL(remote.url), { timeoutDuration: remote.timeoutMs, cooldownDuration: remote.cooldownMs, cacheMaxAge: remote.cacheMaxAgeMs })
    : null;

  const handles = (alg: string | undefined) => alg !== undefined && (pem?.alg === alg || jwksAlgs.has(alg));

  async function verify(token: string): Promise<VerifyOutcome> {
    try {
      const { alg, kid } = decodeProtectedHeader(token);
      if (!handles(alg)) return { ok: false, reason: `invalid token: algorithm ${String(alg)} is not configured` };
      // With a PEM key of the same alg, a token with a kid tries the remote set first and falls
      // back to the PEM key only when no served key fits it; without a kid it goes to the PEM key.
      if (remoteSet && (pem?.alg !== alg || kid !== undefined)) {
        try {
          const { payload } = await jwtVerify(token, remoteSet, { algorithms: [...PUBLIC_KEY_ALGS] });
          return { ok: true, claims: payload };
        } catch (err) {
          const failure = remoteFailure(err as Error, remote!.url);
          if (failure) return { ok: false, reason: `invalid token: ${failure}` };
          if (!((err as Error).name === 'JWKSNoMatchingKey' && pem?.alg === alg)) throw err;
        }
      }
      const useJwks = keySet !== null && (pem?.alg !== alg || (kid !== undefined && jwksKids.has(kid)));
      const { payload } = useJwks
        ? await jwtVerify(token, keySet!, { algorithms: [...jwksAlgs] })
        : await jwtVerify(token, await pemKey!, { algorithms: [pem!.alg] });
      return { ok: true, claims: payload };
    } catch (err) {
      return { ok: false, reason: `invalid token: ${(err as Error).name}` };
    }
  }

  return { handles, verify };
}

/** The header's `alg`, or undefined if the token's header does not decode. */
export function headerAlg(token: string): string | undefined {
  try {
    const alg = decodeProtectedHeader(token).alg;
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
}
