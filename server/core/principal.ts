/**
 * Who a caller is and what they may do: roles, the principal a credential yields, and the
 * publishing rights that follow. docs/security.md has the table of roles and rights.
 */
import { HubError } from '../../protocol/errors.ts';
import { isSysTopic, matches, topicError } from '../../protocol/topics.ts';

/** Ordered: each role has every right of the roles before it. */
export const ROLES = ['viewer', 'operator', 'publisher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  role: Role;
  /** Patterns this principal may publish to (publishers); admins may publish anywhere. */
  publish: string[];
  /** Who it is, for logs: a JWT `sub`, an API key's name, or `anonymous`. */
  subject: string;
  /** When the credential stops being valid (Unix ms, a JWT's `exp`); the hub closes the connection 4001 then. */
  expiresAt?: number;
}

export interface ApiKey {
  key: string;
  role: Role;
  publish: string[];
  name: string;
}

const rank = (role: Role) => ROLES.indexOf(role);
export const hasRole = (p: Principal, role: Role): boolean => rank(p.role) >= rank(role);

export const canChat = (p: Principal): boolean => hasRole(p, 'operator');
export function canPublish(p: Principal, topic: string): boolean {
  if (topic === 'chat') return canChat(p);
  if (hasRole(p, 'admin')) return true;
  return hasRole(p, 'publisher') && p.publish.some((pattern) => matches(pattern, topic));
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/** Turns a credential (undefined: none) into a principal; server/edge/credentials.ts builds it from config. */
export interface Authenticator {
  authenticate(token: string | undefined): Promise<AuthResult>;
  /** The same verdict now when it needs no signature check (no token, an API key, a malformed one); null for a JWT to verify. */
  authenticateNow(token: string | undefined): AuthResult | null;
}

/**
 * Topics each principal was allowed to publish to, at most PUBLISH_CACHE_SIZE per principal
 * (then forgotten at once): a producer publishes to the same topics over and over, and the
 * grammar and pattern checks cost more than a lookup. Principals are never mutated (a new
 * credential is a new object), so an entry cannot go stale.
 */
const PUBLISH_CACHE_SIZE = 1024;
const allowedTopics = new WeakMap<Principal, Set<string>>();

/** Check that `principal` may publish to `topic`; returns the topic, or throws a HubError naming the right it lacks. */
export function checkPublish(topic: unknown, principal: Principal): string {
  const known = allowedTopics.get(principal);
  if (known !== undefined && typeof topic === 'string' && known.has(topic)) return topic;
  const checked = checkPublishUncached(topic, principal);
  if (known === undefined) allowedTopics.set(principal, new Set([checked]));
  else {
    if (known.size >= PUBLISH_CACHE_SIZE) known.clear();
    known.add(checked);
  }
  return checked;
}

function checkPublishUncached(topic: unknown, principal: Principal): string {
  const problem = topicError(topic);
  if (problem !== null || typeof topic !== 'string') throw new HubError('bad_topic', problem ?? 'bad topic');
  if (isSysTopic(topic)) throw new HubError('forbidden', '$sys topics are published by the hub only');
  if (!canPublish(principal, topic)) {
    throw new HubError(
      'forbidden',
      topic === 'chat'
        ? `role ${principal.role} may not chat (operator or above)`
        : `role ${principal.role} may not publish to '${topic}' (needs a publisher credential covering it: ?token=, the auth op, or Bearer)`,
    );
  }
  return topic;
}
