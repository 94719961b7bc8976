import { describe, expect, it } from 'vitest';
import { isValidPattern, isValidTopic, matches, topicError } from '../../protocol/topics.ts';

describe('topics', () => {
  describe('#topicError', () => {
    it('accepts dotted tokens of [A-Za-z0-9_-] and $sys telemetry', () => {
      for (const t of ['chat', 'ticks.AAPL', 'bars.1s.BTC-USD', 'a_b.c-d.9', '$sys.stats']) expect(isValidTopic(t)).toBe(true);
    });
    it('rejects empty tokens, bad characters, wildcards in topics, and over-long topics', () => {
      expect(topicError('')).toMatch(/non-empty/);
      expect(topicError('a..b')).toMatch(/empty token/);
      expect(topicError('a.b.')).toMatch(/empty token/);
      expect(topicError('a b')).toMatch(/invalid token/);
      expect(topicError('ticks.*')).toMatch(/invalid token/);
      expect(topicError('a.$sys')).toMatch(/invalid token/);
      expect(topicError('$sys')).toMatch(/invalid token/);
      expect(topicError('x'.repeat(129))).toMatch(/longer than 128/);
      expect(topicError('a.b.c.d.e.f.g.h.i')).toMatch(/more than 8 tokens/);
      expect(topicError(42)).toMatch(/non-empty string/);
    });
    it('accepts wildcards in patterns only where NATS allows them', () => {
      for (const p of ['*', '>', 'ticks.*', 'bars.>', '*.AAPL', 'a.*.c.>']) expect(isValidPattern(p)).toBe(true);
      expect(topicError('a.>.b', true)).toMatch(/last token/);
      expect(topicError('a.b*', true)).toMatch(/invalid token/);
    });
  });

  describe('#matches', () => {
    it.each([
      ['ticks.*', 'ticks.AAPL', true],
      ['ticks.*', 'ticks', false],
      ['ticks.*', 'ticks.a.b', false],
      ['ticks.>', 'ticks.a.b', true],
      ['ticks.>', 'ticks', false],
      ['>', 'anything.at.all', true],
      ['*.AAPL', 'ticks.AAPL', true],
      ['*.AAPL', 'ticks.MSFT', false],
      ['chat', 'chat', true],
      ['chat', 'chatter', false],
    ])('%s vs %s -> %s', (pattern, topic, expected) => {
      expect(matches(pattern, topic)).toBe(expected);
    });
  });
});
