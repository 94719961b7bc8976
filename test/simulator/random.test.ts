import { describe, expect, it } from 'vitest';
import { Random, deriveSeed } from '../../simulator/random.ts';

describe('Random', () => {
  describe('#next', () => {
    it('repeats the same sequence for the same seed', () => {
      const a = new Random(123);
      const b = new Random(123);
      const seqA = Array.from({ length: 100 }, () => a.next());
      expect(Array.from({ length: 100 }, () => b.next())).toEqual(seqA);
    });

    it('gives a different sequence for another seed', () => {
      const a = Array.from({ length: 20 }, ((r) => () => r.next())(new Random(1)));
      const b = Array.from({ length: 20 }, ((r) => () => r.next())(new Random(2)));
      expect(a.filter((x, i) => x === b[i])).toEqual([]);
    });

    it('stays in [0, 1) and is roughly uniform', () => {
      const r = new Random(7);
      const buckets = new Array(10).fill(0);
      for (let i = 0; i < 100_000; i++) {
        const x = r.next();
        expect(x >= 0 && x < 1).toBe(true);
        buckets[Math.floor(x * 10)]++;
      }
      for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
    });

    it('rejects a non-finite seed', () => {
      expect(() => new Random(Number.NaN)).toThrow(/seed/);
    });
  });

  describe('#normal', () => {
    it('has mean 0 and sd 1, and is deterministic', () => {
      const r = new Random(99);
      const xs = Array.from({ length: 100_000 }, () => r.normal());
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
      expect(Math.abs(mean)).toBeLessThan(0.02);
      expect(Math.abs(sd - 1)).toBeLessThan(0.02);
      // About 68% within one sd, 95% within two.
      expect(xs.filter((x) => Math.abs(x) < 1).length / xs.length).toBeCloseTo(0.6827, 1);
      expect(xs.filter((x) => Math.abs(x) < 2).length / xs.length).toBeCloseTo(0.9545, 2);
      expect(xs.every(Number.isFinite)).toBe(true);

      const again = new Random(99);
      expect(Array.from({ length: 10 }, () => again.normal())).toEqual(xs.slice(0, 10));
    });

    it('scales by mean and sd', () => {
      const a = new Random(5);
      const b = new Random(5);
      for (let i = 0; i < 10; i++) expect(b.normal(10, 2)).toBeCloseTo(10 + 2 * a.normal(), 12);
    });
  });

  describe('#int', () => {
    it('covers both bounds and nothing outside', () => {
      const r = new Random(3);
      const seen = new Set<number>();
      for (let i = 0; i < 1000; i++) seen.add(r.int(1, 4));
      expect([...seen].sort()).toEqual([1, 2, 3, 4]);
      expect(() => r.int(3, 1)).toThrow(RangeError);
    });
  });

  describe('deriveSeed', () => {
    it('is stable and separates labels and seeds', () => {
      expect(deriveSeed(1, 'AAPL')).toBe(deriveSeed(1, 'AAPL'));
      expect(deriveSeed(1, 'AAPL')).not.toBe(deriveSeed(1, 'MSFT'));
      expect(deriveSeed(1, 'AAPL')).not.toBe(deriveSeed(2, 'AAPL'));
      expect(Number.isInteger(deriveSeed(1, 'x')) && deriveSeed(1, 'x') >= 0).toBe(true);
    });
  });
});
