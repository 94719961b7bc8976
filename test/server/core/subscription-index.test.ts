import { describe, expect, it } from 'vitest';
import { SubscriptionIndex } from '../../../server/core/subscription-index.ts';
import { matches } from '../../../protocol/topics.ts';

describe('SubscriptionIndex', () => {
  it('#match returns exactly the entries whose patterns match, agreeing with #matches', () => {
    const patterns = ['ticks.*', 'ticks.AAPL', 'ticks.>', '>', '*.AAPL', 'bars.1s.*', 'bars.>', 'chat', '*', '*.*.*'];
    const topics = ['ticks.AAPL', 'ticks.MSFT', 'bars.1s.AAPL', 'bars.1m.AAPL', 'chat', 'fills', 'a.b.c.d'];
    const index = new SubscriptionIndex<string>();
    for (const p of patterns) index.add(p, p);
    for (const t of topics) {
      expect([...index.match(t)].sort()).toEqual(patterns.filter((p) => matches(p, t)).sort());
    }
  });

  it('#remove forgets an entry, prunes, and invalidates cached matches', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a.*', 1);
    index.add('a.*', 2);
    index.add('a.b', 3);
    expect([...index.match('a.b')].sort()).toEqual([1, 2, 3]);
    expect(index.remove('a.*', 1)).toBe(true);
    expect(index.remove('a.*', 1)).toBe(false);
    expect(index.remove('x.y', 9)).toBe(false);
    expect([...index.match('a.b')].sort()).toEqual([2, 3]);
    index.remove('a.*', 2);
    index.remove('a.b', 3);
    expect(index.match('a.b')).toEqual([]);
    expect(index.size).toBe(0);
  });

  it('#add and #remove update only the cached results they match (the hot path keeps its cache)', () => {
    const index = new SubscriptionIndex<string>();
    index.add('ticks.AAPL', 'exact');
    const aapl = index.match('ticks.AAPL');
    const msft = index.match('ticks.MSFT');
    index.add('bars.>', 'other');
    index.remove('bars.>', 'other');
    expect(index.match('ticks.AAPL')).toBe(aapl); // untouched: the same cached array
    expect(index.match('ticks.MSFT')).toBe(msft);
    index.add('ticks.*', 'wild');
    expect(index.match('ticks.AAPL')).toEqual(['exact', 'wild']);
    expect(index.match('ticks.MSFT')).toEqual(['wild']);
    expect(aapl).toEqual(['exact']); // a result handed out earlier is never mutated
  });

  it('an entry under two matching patterns is removed from one only', () => {
    const index = new SubscriptionIndex<string>();
    index.add('a.*', 'e');
    index.add('a.b', 'e');
    expect(index.match('a.b')).toEqual(['e', 'e']);
    index.remove('a.*', 'e');
    expect(index.match('a.b')).toEqual(['e']);
  });

  it('adding the same entry twice is a no-op', () => {
    const index = new SubscriptionIndex<string>();
    index.add('x.>', 'e');
    index.add('x.>', 'e');
    expect(index.size).toBe(1);
    expect(index.match('x.y')).toEqual(['e']);
  });

  it('does not scan unrelated subscriptions: 100k exact topics, match visits one branch', () => {
    const index = new SubscriptionIndex<number>();
    for (let i = 0; i < 100_000; i++) index.add(`sym.S${i}`, i);
    index.add('sym.*', -1);
    expect([...index.match('sym.S4242')].sort((a, b) => a - b)).toEqual([-1, 4242]);
  });
});
