import { describe, expect, it } from 'vitest';
import { isCovered, planUpstream } from '../../../../server/broker/redis/upstream.ts';

const plan = (...patterns: string[]) => Object.fromEntries(planUpstream(patterns, 'th:'));

describe('planUpstream', () => {
  it('an exact topic gets its channel; a pattern the glob of its first token', () => {
    expect(plan('ticks.AAPL', 'bars.*.AAPL', 'fills.>')).toEqual({ 'th:m:ticks.AAPL': 'channel', 'th:m:bars.*': 'pattern', 'th:m:fills.*': 'pattern' });
  });

  it('a channel under a glob is not subscribed twice', () => {
    expect(plan('ticks.*', 'ticks.AAPL')).toEqual({ 'th:m:ticks.*': 'pattern' });
  });

  it('a leading wildcard covers everything with one glob', () => {
    expect(plan('*.AAPL', 'ticks.AAPL', 'bars.>')).toEqual({ 'th:m:*': 'pattern' });
    expect(plan('>')).toEqual({ 'th:m:*': 'pattern' });
  });

  it('nothing wanted, nothing planned', () => {
    expect(plan()).toEqual({});
  });
});

describe('isCovered', () => {
  it('agrees with the plan: every planned pattern covers its topics, nothing else', () => {
    const upstream = planUpstream(['ticks.*', 'fills'], 'th:');
    expect(isCovered('ticks.AAPL', upstream, 'th:')).toBe(true);
    expect(isCovered('fills', upstream, 'th:')).toBe(true);
    expect(isCovered('fills.eu', upstream, 'th:')).toBe(false);
    expect(isCovered('bars.1s.AAPL', upstream, 'th:')).toBe(false);
  });
});
