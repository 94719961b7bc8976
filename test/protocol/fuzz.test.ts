import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matches, topicError } from '../../protocol/topics.ts';
import { SubscriptionIndex } from '../../server/core/subscription-index.ts';
import { parseCommand } from '../../server/sessions/line.ts';
import { parseRequest } from '../../server/sessions/parse.ts';

const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/);
const topic = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join('.'));
const pattern = fc
  .array(fc.oneof(token, fc.constant('*')), { minLength: 1, maxLength: 5 })
  .chain((tokens) => fc.boolean().map((gt) => (gt ? [...tokens, '>'] : tokens).join('.')));

const smallToken = fc.constantFrom('a', 'b', 'c');
const smallTopic = fc.array(smallToken, { minLength: 1, maxLength: 3 }).map((t) => t.join('.'));
const smallPattern = fc
  .array(fc.oneof(smallToken, fc.constant('*')), { minLength: 1, maxLength: 3 })
  .chain((tokens) => fc.boolean().map((gt) => (gt ? [...tokens, '>'] : tokens).join('.')));

/** Reference matcher written independently of the implementation: a regular expression. */
function reference(p: string, t: string): boolean {
  const source = p
    .split('.')
    .map((tok) => (tok === '*' ? '[^.]+' : tok === '>' ? '[^.]+(\\.[^.]+)*' : tok.replace(/[-]/g, '\\-')))
    .join('\\.');
  return new RegExp(`^${source}$`).test(t);
}

describe('fuzz', () => {
  it('parseRequest never throws and always answers ok or a coded error', () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ op: fc.constantFrom('sub', 'unsub', 'pub', 'pubs', 'history', 'auth', 'ping', 'x'), id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)), topic: fc.anything(), data: fc.anything(), messages: fc.oneof(fc.anything(), fc.array(fc.record({ topic: fc.anything(), data: fc.anything() }))), since: fc.anything(), snapshot: fc.anything(), maxHz: fc.anything(), limit: fc.anything(), token: fc.anything() }).map((r) => JSON.stringify(r)),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        const result = parseRequest(text);
        if (!result.ok) return void expect(result.message.length).toBeGreaterThan(0);
        expect(['sub', 'unsub', 'pub', 'pubs', 'history', 'auth', 'ping']).toContain(result.request.op);
        if (result.request.op === 'pubs') expect(Array.isArray(result.request.messages)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('topicError never throws on any input', () => {
    fc.assert(
      fc.property(fc.anything(), fc.boolean(), (value, wild) => {
        const r = topicError(value, wild);
        expect(r === null || typeof r === 'string').toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('matches agrees with a regular-expression reference on valid patterns and topics', () => {
    fc.assert(
      fc.property(pattern, topic, (p, t) => {
        expect(topicError(p, true)).toBeNull();
        expect(matches(p, t)).toBe(reference(p, t));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['random tokens', pattern, topic],
    ['a three-token alphabet (most patterns match cached topics)', smallPattern, smallTopic],
  ])('SubscriptionIndex.match equals filtering every pattern, through random adds and removes: %s', (_name, pattern, topic) => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), pattern, fc.integer({ min: 0, max: 3 })), { maxLength: 60 }), fc.array(topic, { minLength: 1, maxLength: 10 }), (ops, topics) => {
        const index = new SubscriptionIndex<string>();
        const model = new Set<string>();
        for (const [add, p, who] of ops) {
          const entry = `${who}|${p}`;
          if (add) {
            index.add(p, entry);
            model.add(entry);
          } else {
            index.remove(p, entry);
            model.delete(entry);
          }
          for (const t of topics) {
            const expected = [...model].filter((e) => matches(e.slice(e.indexOf('|') + 1), t)).sort();
            expect([...index.match(t)].sort()).toEqual(expected);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('parseCommand never throws; a command always has a lower-case name and trimmed argument', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (line) => {
        const cmd = parseCommand(line);
        if (!line.startsWith('/')) {
          expect(cmd).toBeNull();
        } else {
          expect(cmd!.name).toBe(cmd!.name.toLowerCase());
          expect(cmd!.arg).toBe(cmd!.arg.trim());
        }
      }),
      { numRuns: 3000 },
    );
  });
});
