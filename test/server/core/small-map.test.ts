import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SmallMap } from '../../../server/core/small-map.ts';

describe('SmallMap', () => {
  it('holds one entry without a Map and behaves like one through the switch to many', () => {
    const m = new SmallMap<string, number>();
    expect(m.size).toBe(0);
    expect(m.get('a')).toBeUndefined();
    m.set('a', 1).set('a', 2);
    expect([m.size, m.get('a'), m.has('a'), m.has('b')]).toEqual([1, 2, true, false]);
    m.set('b', 3);
    expect([...m.keys()]).toEqual(['a', 'b']);
    expect([...m.values()]).toEqual([2, 3]);
    expect(m.delete('a')).toBe(true);
    expect(m.delete('a')).toBe(false);
    expect([...m.keys()]).toEqual(['b']);
    m.clear();
    expect([m.size, [...m.values()], m.has('b')]).toEqual([0, [], false]);
  });

  it('matches a Map under any sequence of set, delete and clear', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.integer() }),
      fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ op: fc.constant('clear' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const small = new SmallMap<string, number>();
        const map = new Map<string, number>();
        for (const o of ops) {
          if (o.op === 'set') {
            small.set(o.key, o.value);
            map.set(o.key, o.value);
          } else if (o.op === 'delete') {
            expect(small.delete(o.key)).toBe(map.delete(o.key));
          } else {
            small.clear();
            map.clear();
          }
          expect(small.size).toBe(map.size);
          expect([...small.keys()]).toEqual([...map.keys()]);
          expect([...small.values()]).toEqual([...map.values()]);
          for (const k of ['a', 'b', 'c']) expect([small.has(k), small.get(k)]).toEqual([map.has(k), map.get(k)]);
        }
      }),
    );
  });
});
