import { describe, expect, it } from 'vitest';
import { MAX_SINCE_TOPICS } from '../../../protocol/limits.ts';
import { parseTapQuery } from '../../../server/edge/tap-query.ts';

const parse = (query: string, patterns = ['ticks.*']) => parseTapQuery(new URLSearchParams(query), patterns);

describe('parseTapQuery', () => {
  it('reads per-topic positions, the epoch and sinceTs, as pasted in wscat', () => {
    expect(parse('epoch=AbC&since=ticks.AAPL:120,ticks.MSFT:98&sinceTs=1764100000123')).toEqual({
      since: { 'ticks.AAPL': 120, 'ticks.MSFT': 98 },
      sinceTs: 1764100000123,
      epoch: 'AbC',
      snapshot: undefined,
      maxHz: undefined,
    });
  });

  it('keeps the plain since=<seq> for a tap of one exact topic, and snapshot and maxHz', () => {
    expect(parse('since=4&snapshot=3&maxHz=2.5', ['since.t'])).toMatchObject({ since: 4, snapshot: 3, maxHz: 2.5 });
    expect(parse('')).toEqual({ since: undefined, sinceTs: undefined, epoch: undefined, snapshot: undefined, maxHz: undefined });
    expect(parse('sinceTs=0')).toMatchObject({ sinceTs: 0, since: undefined });
  });

  it('accepts topics on any of several patterns, including one named __proto__', () => {
    const options = parse('since=a.x:1,b.c.d:0,__proto__:7', ['a.*', 'b.>', '__proto__']);
    expect(typeof options).toBe('object');
    const since = (options as { since: Record<string, number> }).since;
    expect(Object.entries(since)).toEqual([['a.x', 1], ['b.c.d', 0], ['__proto__', 7]]);
  });

  it('refuses bad positions, naming the problem', () => {
    expect(parse('since=5')).toMatch(/one exact topic.*since=<topic>:<seq>/);
    expect(parse('since=3', ['a.b', 'a.c'])).toMatch(/one exact topic/);
    expect(parse('since=ticks.AAPL')).toMatch(/'ticks.AAPL' is not <topic>:<seq>/);
    expect(parse('since=ticks.AAPL:-1')).toMatch(/seq must be a non-negative integer/);
    expect(parse('since=ticks.AAPL:1.5')).toMatch(/seq must be a non-negative integer/);
    expect(parse('since=ticks.AAPL:')).toMatch(/seq must be a non-negative integer/);
    expect(parse('since=ticks..AAPL:1')).toMatch(/'ticks..AAPL:1'/);
    expect(parse('since=ticks.*:1')).toMatch(/'ticks.\*:1'/);
    expect(parse('since=ticks.AAPL:1,')).toMatch(/'' is not <topic>:<seq>/);
    expect(parse('since=ticks.AAPL:1,ticks.AAPL:2')).toMatch(/lists ticks.AAPL more than once/);
    expect(parse('since=bars.AAPL:1')).toMatch(/bars.AAPL' matches none of the tap's patterns \(ticks.\*\)/);
    expect(parse('since=ticks.A:1&since=ticks.B:2')).toMatch(/'since' given more than once/);
  });

  it(`refuses more than MAX_SINCE_TOPICS (${MAX_SINCE_TOPICS}) positions`, () => {
    const entries = (n: number) => Array.from({ length: n }, (_, i) => `ticks.S${i}:${i}`).join(',');
    expect(typeof parse(`since=${entries(MAX_SINCE_TOPICS)}`)).toBe('object');
    expect(parse(`since=${entries(MAX_SINCE_TOPICS + 1)}`)).toMatch(new RegExp(`more than ${MAX_SINCE_TOPICS} topics`));
  });

  it('refuses a bad sinceTs, epoch, snapshot or maxHz, naming it', () => {
    expect(parse('sinceTs=-5')).toMatch(/'sinceTs' must be a Unix time in milliseconds/);
    expect(parse('sinceTs=soon')).toMatch(/'sinceTs'/);
    expect(parse('sinceTs=1e12')).toMatch(/'sinceTs'/);
    expect(parse('epoch=')).toMatch(/'epoch' must not be empty/);
    expect(parse('epoch=a&epoch=b')).toMatch(/'epoch' given more than once/);
    expect(parse('snapshot=x')).toMatch(/'snapshot' must be a non-negative integer/);
    expect(parse('maxHz=fast')).toMatch(/maxHz/);
  });
});
