/**
 * The formats of list-valued settings (retention and overflow rules, API keys, trusted proxies,
 * the public origin) as zod parsers whose errors say what the value should look like, and the
 * rules tickhub uses when a setting is absent. server/config.ts puts them together.
 */
import { z } from 'zod';
import { isValidPattern } from '../protocol/topics.ts';
import { ROLES, type ApiKey, type Role } from './core/principal.ts';
import { compileTrust } from './edge/client-address.ts';

export type OverflowPolicy = 'conflate' | 'disconnect';

export interface RetentionRule {
  pattern: string;
  /** Messages kept per topic. */
  maxMessages: number;
  /** Seconds a message is kept. */
  maxAgeSeconds: number;
}

export interface PolicyRule {
  pattern: string;
  policy: OverflowPolicy;
}

/**
 * The simulator's feeds (protocol/feeds.ts) at its default rate: an hour of 1s bars (republished
 * every trade), a day of the longer ones (republished at most 60 times a bar), the book's
 * increments for 10 minutes of resumes and the last few whole books, an hour of trades.
 */
export const defaultRetention: RetentionRule[] = [
  { pattern: 'bars.1s.>', maxMessages: 20_000, maxAgeSeconds: 3_600 },
  { pattern: 'bars.>', maxMessages: 20_000, maxAgeSeconds: 86_400 },
  { pattern: 'book.snapshot.>', maxMessages: 5, maxAgeSeconds: 3_600 },
  { pattern: 'book.>', maxMessages: 3_000, maxAgeSeconds: 600 },
  { pattern: 'trades.>', maxMessages: 2_000, maxAgeSeconds: 3_600 },
  { pattern: 'ticks.>', maxMessages: 1_000, maxAgeSeconds: 120 },
  { pattern: 'chat', maxMessages: 500, maxAgeSeconds: 86_400 },
  { pattern: 'fills', maxMessages: 2_000, maxAgeSeconds: 86_400 },
  { pattern: 'pnl', maxMessages: 5_000, maxAgeSeconds: 3_600 },
  { pattern: '$sys.>', maxMessages: 60, maxAgeSeconds: 60 },
  { pattern: '>', maxMessages: 1_000, maxAgeSeconds: 600 },
];

export const defaultPolicies: PolicyRule[] = [
  { pattern: 'ticks.>', policy: 'conflate' },
  { pattern: 'bars.>', policy: 'conflate' },
  // A skipped book increment is a seq gap the reader resyncs from (protocol/book.ts); a snapshot is whole.
  { pattern: 'book.>', policy: 'conflate' },
  { pattern: 'pnl', policy: 'conflate' },
  { pattern: '$sys.>', policy: 'conflate' },
  { pattern: '>', policy: 'disconnect' },
];

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `pattern=count/seconds,...`, e.g. `bars.>=20000/3600,chat=500/86400`. */
export const retentionList = z.string().transform((text, ctx): RetentionRule[] => {
  const rules: RetentionRule[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(.+)=(\d+)\/(\d+)$/.exec(part);
    if (!m || !isValidPattern(m[1])) {
      ctx.addIssue({ code: 'custom', message: `'${part}' is not pattern=count/seconds` });
      return z.NEVER;
    }
    rules.push({ pattern: m[1], maxMessages: Number(m[2]), maxAgeSeconds: Number(m[3]) });
  }
  return [...rules, ...defaultRetention];
});

/** `pattern=conflate|disconnect,...`. */
export const policyList = z.string().transform((text, ctx): PolicyRule[] => {
  const rules: PolicyRule[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(.+)=(conflate|disconnect)$/.exec(part);
    if (!m || !isValidPattern(m[1])) {
      ctx.addIssue({ code: 'custom', message: `'${part}' is not pattern=conflate|disconnect` });
      return z.NEVER;
    }
    rules.push({ pattern: m[1], policy: m[2] as OverflowPolicy });
  }
  return [...rules, ...defaultPolicies];
});

/** `key:role[:pattern+pattern...]` entries separated by commas. */
export const apiKeyList = z.string().transform((text, ctx): ApiKey[] => {
  const keys: ApiKey[] = [];
  for (const [i, part] of text.split(',').map((s) => s.trim()).filter(Boolean).entries()) {
    const [key, role, patterns = ''] = part.split(':');
    const publish = patterns ? patterns.split('+') : [];
    if (!key || key.length < 16 || !(ROLES as readonly string[]).includes(role) || !publish.every(isValidPattern)) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is not key:role[:pattern+pattern] with a key of 16+ characters and role one of ${ROLES.join(', ')}` });
      return z.NEVER;
    }
    keys.push({ key, role: role as Role, publish, name: `API_KEYS[${i + 1}]` });
  }
  return keys;
});

/** Comma-separated addresses, CIDRs and keywords, checked by compiling them as the edge will. */
export const trustList = z.string().transform((text, ctx): string[] => {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  try {
    compileTrust(entries);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^TRUSTED_PROXIES: /, '') });
    return z.NEVER;
  }
  return entries;
});

/** An http(s) origin, nothing after it: what browsers send as Origin for pages of the hub. */
export const publicOrigin = z.string().transform((text, ctx): string => {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    ctx.addIssue({ code: 'custom', message: `'${text}' is not an origin like https://hub.example.com or https://hub.example.com:8443 (scheme, host, optional port; no path)` });
    return z.NEVER;
  }
  return url.origin;
});
