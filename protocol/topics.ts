/**
 * Topic grammar and matching. Topics are dot-separated tokens; patterns add NATS wildcards
 * (`*` one token, `>` one or more trailing tokens). See docs/protocol.md. No Node APIs: the
 * hub, the client and the dashboard share it.
 */

import { MAX_TOPIC_LENGTH, MAX_TOPIC_TOKENS } from './limits.ts';

const TOKEN = /^[A-Za-z0-9_-]+$/;
/** `$sys` is allowed as the first token only: it marks the hub's own telemetry. */
const SYS_PREFIX = '$sys';

/** Why a topic or pattern is invalid, or null when it is valid. */
export function topicError(topic: unknown, allowWildcards = false): string | null {
  if (typeof topic !== 'string' || topic.length === 0) return 'topic must be a non-empty string';
  if (topic.length > MAX_TOPIC_LENGTH) return `topic longer than ${MAX_TOPIC_LENGTH} characters`;
  const tokens = topic.split('.');
  if (tokens.length > MAX_TOPIC_TOKENS) return `topic has more than ${MAX_TOPIC_TOKENS} tokens`;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (allowWildcards && token === '*') continue;
    if (allowWildcards && token === '>') {
      if (i !== tokens.length - 1) return "'>' must be the last token";
      continue;
    }
    if (i === 0 && token === SYS_PREFIX && tokens.length > 1) continue;
    if (!TOKEN.test(token)) {
      return token === '' ? 'empty token in topic' : `invalid token '${token}' (allowed: A-Z a-z 0-9 _ -${allowWildcards ? ', * and >' : ''})`;
    }
  }
  return null;
}

export const isValidTopic = (topic: unknown): topic is string => topicError(topic, false) === null;
export const isValidPattern = (pattern: unknown): pattern is string => topicError(pattern, true) === null;
export const isSysTopic = (topic: string): boolean => topic.startsWith(`${SYS_PREFIX}.`);
export const isPattern = (pattern: string): boolean => pattern.split('.').some((t) => t === '*' || t === '>');

/** NATS-style match of one concrete topic against one pattern. */
export function matches(pattern: string, topic: string): boolean {
  if (pattern === topic) return true;
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}
